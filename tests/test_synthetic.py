"""The sample export generator reproduces the facts of the lender's export (DESIGN §3/§4, data-facts.md)."""

from __future__ import annotations

import dataclasses
import datetime
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from tests.shipped import SHIPPED_PARAMS, shipped
from creditrisk.params import ParamsError, section
from creditrisk.data.contract import coerce_and_validate
from creditrisk.data.synthetic import (
    generate_history,
    generate_incoming,
    write_csv,
    write_sample_export,
    write_xlsx,
    GenerateParams,
    LEAK_PAYER_MODE,
)

REPO = Path(__file__).resolve().parents[1]
CLEAN = shipped(GenerateParams, rows=30_000, quirks=False)
QUIRKY = shipped(GenerateParams, rows=4_000, quirks=True)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return generate_history(CLEAN)


@pytest.fixture(scope="module")
def defaulted(history: pd.DataFrame) -> pd.Series:
    return history["Pago_atiempo"] == 0


@pytest.fixture(scope="module")
def quirky() -> pd.DataFrame:
    return generate_history(QUIRKY)


@pytest.fixture(scope="module")
def quirky_files(quirky: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("quirky")
    files = {"csv": folder / "loans.csv", "xlsx": folder / "loans.xlsx"}
    write_csv(quirky, files["csv"], quirks=True, seed=QUIRKY.seed)
    write_xlsx(quirky, files["xlsx"], quirks=True, seed=QUIRKY.seed)
    return files


def spearman(frame: pd.DataFrame, first: str, second: str) -> float:
    return float(stats.spearmanr(frame[first], frame[second], nan_policy="omit")[0])


# --- determinism ---------------------------------------------------------------------------

def test_same_seed_gives_identical_frames_and_another_seed_does_not() -> None:
    params = shipped(GenerateParams, rows=3_000)
    pd.testing.assert_frame_equal(generate_history(params), generate_history(params))
    other = generate_history(dataclasses.replace(params, seed=params.seed + 1))
    assert not generate_history(params)["capital_prestado"].equals(other["capital_prestado"])


def test_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    params = shipped(GenerateParams, rows=600, incoming_months=2, incoming_rows=100, label_lag_months=1)
    first = write_sample_export(params, tmp_path / "a")
    write_sample_export(params, tmp_path / "b")
    assert len(first.files) == 4
    for path in first.files:
        twin = tmp_path / "b" / path.relative_to(tmp_path / "a")
        assert path.read_bytes() == twin.read_bytes(), path.name


# --- facts of the clean history --------------------------------------------------------------

def test_default_rate_and_its_movement_over_time(history: pd.DataFrame, defaulted: pd.Series) -> None:
    assert 0.042 <= defaulted.mean() <= 0.054
    quarter = history["fecha_prestamo"].dt.to_period("Q-JAN")
    by_quarter = defaulted.groupby(quarter).mean()
    assert by_quarter.iloc[0] > by_quarter.iloc[3] + 0.01  # 6.2 % early, 3.0 % a year later


def test_category_shares(history: pd.DataFrame) -> None:
    products = history["tipo_credito"].value_counts(normalize=True)
    assert products[4] == pytest.approx(0.72, abs=0.03)
    assert products[9] == pytest.approx(0.27, abs=0.03)
    assert set(products.index) == {4, 9, 10, 6, 7, 68}
    self_employed = history["tipo_laboral"] == "Independiente"
    assert self_employed.mean() == pytest.approx(0.37, abs=0.02)
    income_missing = history["promedio_ingresos_datacredito"].isna()
    assert self_employed[income_missing].mean() == pytest.approx(0.56, abs=0.03)
    assert self_employed[~income_missing].mean() == pytest.approx(0.30, abs=0.03)
    trends = history["tendencia_ingresos"].value_counts(normalize=True, dropna=False)
    assert trends["Creciente"] == pytest.approx(0.49, abs=0.03)
    assert trends["Decreciente"] == pytest.approx(0.12, abs=0.02)
    terms = history["plazo_meses"].value_counts(normalize=True)
    assert terms.index[:2].tolist() == [6, 12]
    assert history["plazo_meses"].between(2, 90).all()


def test_quantiles_of_money_and_scores(history: pd.DataFrame) -> None:
    assert history["capital_prestado"].median() == pytest.approx(1.92e6, rel=0.08)
    assert history["capital_prestado"].min() >= 360_000
    salary = history["salario_cliente"]
    assert salary.median() == pytest.approx(3.0e6, rel=0.08)
    assert (salary % 100_000 == 0).mean() == pytest.approx(0.80, abs=0.03)
    assert history["puntaje_datacredito"].median() == pytest.approx(792, abs=8)
    assert history["edad_cliente"].between(19, 69).all()
    ratio = history["cuota_pactada"] * history["plazo_meses"] / history["capital_prestado"]
    by_term = ratio.groupby(history["plazo_meses"]).median()
    assert by_term[6] < by_term[12] < by_term[36]


def test_strongest_correlations(history: pd.DataFrame) -> None:
    assert spearman(history, "salario_cliente", "total_otros_prestamos") == pytest.approx(0.70, abs=0.05)
    assert spearman(history, "cuota_pactada", "capital_prestado") == pytest.approx(0.75, abs=0.05)
    assert spearman(history, "edad_cliente", "puntaje_datacredito") == pytest.approx(0.41, abs=0.05)
    assert spearman(history, "cant_creditosvigentes", "creditos_sectorFinanciero") > 0.7


def test_counts_are_over_dispersed(history: pd.DataFrame) -> None:
    for column, mean in (("cant_creditosvigentes", 5.7), ("huella_consulta", 4.2)):
        counts = history[column]
        assert counts.mean() == pytest.approx(mean, abs=0.3)
        assert counts.var() > 2 * counts.mean()


def test_missing_shares_and_nesting(history: pd.DataFrame) -> None:
    income_missing = history["promedio_ingresos_datacredito"].isna()
    trend_missing = history["tendencia_ingresos"].isna()
    assert income_missing.mean() == pytest.approx(0.27, abs=0.02)
    assert trend_missing[income_missing].all()
    assert trend_missing.mean() == pytest.approx(0.28, abs=0.02)
    total, principal, cosigner = (history[c].isna() for c in ("saldo_total", "saldo_principal", "saldo_mora_codeudor"))
    assert cosigner.mean() == pytest.approx(0.055, abs=0.01)
    assert principal[total].all() and cosigner[principal].all()
    assert history["capital_prestado"].notna().all() and history["cuota_pactada"].notna().all()


def test_dates_span_eighteen_months_front_loaded(history: pd.DataFrame) -> None:
    dates = history["fecha_prestamo"]
    assert dates.min() >= pd.Timestamp("2024-11-01") and dates.max() < pd.Timestamp("2026-05-01")
    assert dates.is_monotonic_increasing
    monthly = dates.dt.to_period("M").value_counts().sort_index()
    assert len(monthly) == 18 and monthly.idxmax() == pd.Period("2025-01", "M")
    assert monthly.iloc[:7].sum() / len(dates) == pytest.approx(0.717, abs=0.04)
    assert dates.dt.hour.between(7, 20).all()
    assert dates.dt.hour.value_counts().idxmax() in (15, 16, 17)
    assert dates.dt.day_of_week.value_counts().idxmax() == 3  # Thursday


def test_leak_column_separates_the_classes(history: pd.DataFrame, defaulted: pd.Series) -> None:
    leak = history["puntaje"]
    assert leak[defaulted].max() < leak[~defaulted].min()
    assert (leak == LEAK_PAYER_MODE).mean() == pytest.approx(0.87, abs=0.02)
    assert leak[defaulted].median() == pytest.approx(25, abs=5)


def test_default_rate_falls_with_bureau_score_and_rises_with_inquiries(
    history: pd.DataFrame, defaulted: pd.Series
) -> None:
    by_quintile = defaulted.groupby(pd.qcut(history["puntaje_datacredito"], 5)).mean().to_numpy()
    assert by_quintile[0] > by_quintile[2] > by_quintile[4]
    assert by_quintile[0] > 2 * by_quintile[4]
    by_inquiries = defaulted.groupby(pd.cut(history["huella_consulta"], [-1, 2, 6, 999])).mean().to_numpy()
    assert by_inquiries[0] < by_inquiries[1] < by_inquiries[2]


def test_default_rate_falls_with_age_and_moves_with_employment_and_income_trend(
    history: pd.DataFrame, defaulted: pd.Series
) -> None:
    by_age = defaulted.groupby(pd.cut(history["edad_cliente"], [0, 25, 30, 40, 200])).mean().to_numpy()
    assert by_age[0] > by_age[2] > by_age[3]  # 8.8 / 4.9 / 3.8 %
    assert by_age[0] > 1.6 * by_age[3]
    by_employment = defaulted.groupby(history["tipo_laboral"]).mean()
    assert by_employment["Independiente"] > by_employment["Empleado"]
    by_trend = defaulted.groupby(history["tendencia_ingresos"].fillna("missing")).mean()
    assert by_trend["Decreciente"] > max(by_trend["Estable"], by_trend["Creciente"] + 0.01)
    assert by_trend["missing"] > by_trend["Creciente"]


def test_signal_is_weak_and_spread_over_the_raw_columns(history: pd.DataFrame, defaulted: pd.Series) -> None:
    """Spearman with default: bureau score -0.09, inquiries +0.07, age -0.06, every other raw column |rho| <= 0.05."""
    numeric = [c for c in history.select_dtypes("number").columns if c not in ("puntaje", "Pago_atiempo")]
    rho = {c: float(stats.spearmanr(history[c], defaulted, nan_policy="omit")[0]) for c in numeric}
    assert -0.13 < rho.pop("puntaje_datacredito") < -0.05
    assert 0.03 < rho.pop("huella_consulta") < 0.11
    assert -0.10 < rho.pop("edad_cliente") < -0.02
    assert {c: r for c, r in rho.items() if abs(r) > 0.05} == {}
    assert {"cuota_pactada", "salario_cliente", "capital_prestado"} <= set(rho)


def test_debt_burden_acts_through_the_ratio_not_the_raw_columns(history: pd.DataFrame, defaulted: pd.Series) -> None:
    """Default is U-shaped in installment / salary (stress above ~10 %, inflated salaries below ~2.5 %).

    Neither raw column shows it: a linear model on raw installment and salary
    learns almost nothing, a shallow tree on the ratio clearly more.
    """
    burden = history["cuota_pactada"] / history["salario_cliente"]
    by_burden = defaulted.groupby(pd.cut(burden, [0, 0.025, 0.04, 0.08, 0.2, np.inf])).mean().to_numpy()
    usual = by_burden[1:3].max()
    assert by_burden[0] > 1.5 * usual and by_burden[-1] > 2 * usual
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    raw = StandardScaler().fit_transform(history[["cuota_pactada", "salario_cliente"]])
    linear = cross_val_predict(LogisticRegression(), raw, defaulted, cv=folds, method="predict_proba")[:, 1]
    tree = DecisionTreeClassifier(max_depth=3, min_samples_leaf=200, random_state=0)
    shaped = cross_val_predict(tree, np.log(burden.to_numpy())[:, None], defaulted, cv=folds,
                               method="predict_proba")[:, 1]
    linear_auc, ratio_auc = roc_auc_score(defaulted, linear), roc_auc_score(defaulted, shaped)
    assert linear_auc < 0.56
    assert ratio_auc > linear_auc + 0.04


def test_an_honest_model_learns_something_but_not_too_much(history: pd.DataFrame, defaulted: pd.Series) -> None:
    """Out-of-time ROC-AUC of a plain logistic regression without the leak stays modest."""
    features = pd.DataFrame({
        "bureau": history["puntaje_datacredito"],
        "inquiries": history["huella_consulta"],
        "age": history["edad_cliente"],
        "self_employed": (history["tipo_laboral"] == "Independiente").astype(float),
        "trend_missing": history["tendencia_ingresos"].isna().astype(float),
        "trend_down": (history["tendencia_ingresos"] == "Decreciente").astype(float),
        "burden": np.log(history["cuota_pactada"] / history["salario_cliente"]),
    })
    features = (features - features.mean()) / features.std()
    train = history["fecha_prestamo"] < history["fecha_prestamo"].quantile(0.8)
    model = LogisticRegression(max_iter=200).fit(features[train], defaulted[train])
    auc = roc_auc_score(defaulted[~train], model.predict_proba(features[~train])[:, 1])
    assert 0.60 <= auc <= 0.80


# --- quirks -------------------------------------------------------------------------------

def test_quirky_values_in_the_frame(quirky: pd.DataFrame) -> None:
    rows = len(quirky)
    placeholder = np.flatnonzero(quirky["edad_cliente"] >= 121)
    assert len(placeholder) == pytest.approx(0.014 * rows, abs=2)
    assert np.all(np.diff(placeholder) == 1), "placeholder ages form one contiguous block"
    assert (quirky.loc[placeholder, "puntaje_datacredito"] == 0).all()
    assert quirky.loc[placeholder, "promedio_ingresos_datacredito"].isna().all()
    assert (quirky["salario_cliente"] == 0).sum() >= 1
    assert (quirky["salario_cliente"] > 1e9).sum() >= 1
    assert (quirky["puntaje_datacredito"] < 0).sum() == 1
    garbage = quirky["tendencia_ingresos"].dropna().str.fullmatch(r"-?\d+(\.\d+)?")
    assert garbage.mean() > 0
    assert quirky.duplicated().sum() == round(0.002 * rows)
    assert (quirky["Pago_atiempo"].tail(30) == 0).mean() > 0.8, "the last rows are mostly defaults"


def test_quirky_csv_text(quirky_files: dict[str, Path]) -> None:
    text = quirky_files["csv"].read_text()
    assert re.search(r',"\d+,\d+",', text), "comma decimals inside quotes"
    assert re.search(r",\d+\.\d+,", text), "beside dot decimals"
    assert ",0," in text and ",0.0," in text, "mixed 0 / 0.0"
    raw = pd.read_csv(quirky_files["csv"], dtype=str, keep_default_na=False)
    assert raw["plazo_meses"].str.fullmatch(r"\d+\.0").all(), "integers written as floats"
    assert raw["fecha_prestamo"].str.fullmatch(r"\d\d/\d\d/\d\d \d\d:\d\d").all()
    assert (raw["promedio_ingresos_datacredito"] == "").any(), "missing as empty cells"


def test_clean_csv_has_no_quirks(tmp_path: Path) -> None:
    params = shipped(GenerateParams, rows=2_000, quirks=False)
    frame = generate_history(params)
    write_csv(frame, tmp_path / "clean.csv", quirks=False, seed=params.seed)
    text = (tmp_path / "clean.csv").read_text()
    assert '"' not in text
    raw = pd.read_csv(tmp_path / "clean.csv", dtype=str, keep_default_na=False)
    assert raw["plazo_meses"].str.fullmatch(r"\d+").all()
    assert raw["fecha_prestamo"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    assert not frame.duplicated().any()
    assert frame["edad_cliente"].max() <= 69 and frame["salario_cliente"].between(1, 1e9).all()
    assert frame["tendencia_ingresos"].dropna().isin(["Creciente", "Decreciente", "Estable"]).all()


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_quirky_export_coerces_back_to_the_generated_values(
    kind: str, quirky: pd.DataFrame, quirky_files: dict[str, Path]
) -> None:
    raw = (pd.read_csv(quirky_files["csv"], dtype=str, keep_default_na=False) if kind == "csv"
           else pd.read_excel(quirky_files["xlsx"]))
    result = coerce_and_validate(raw)
    assert result.ok, result.fatal
    assert result.nulled["edad_cliente"]["placeholder"] == (quirky["edad_cliente"] >= 121).sum()
    clean = result.frame
    for column in ("capital_prestado", "cuota_pactada", "puntaje", "promedio_ingresos_datacredito", "saldo_mora"):
        np.testing.assert_allclose(clean[column].to_numpy(float), quirky[column].to_numpy(float), equal_nan=True)
    pd.testing.assert_series_equal(clean["fecha_prestamo"], quirky["fecha_prestamo"], check_dtype=False)


def test_xlsx_holds_real_datetimes_and_text_comma_decimals(quirky_files: dict[str, Path]) -> None:
    from openpyxl import load_workbook

    sheet = load_workbook(quirky_files["xlsx"], read_only=True).active
    rows = list(sheet.iter_rows(min_row=2, max_row=400, values_only=True))
    header = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    date_column, installment = header.index("fecha_prestamo"), header.index("cuota_pactada")
    assert all(isinstance(row[date_column], datetime.datetime) for row in rows)
    assert any(isinstance(row[installment], str) and "," in row[installment] for row in rows)
    assert any(isinstance(row[installment], float) for row in rows)


# --- incoming batches ----------------------------------------------------------------------

def test_incoming_batches_follow_the_history_and_only_matured_ones_have_labels() -> None:
    params = shipped(GenerateParams, incoming_months=6, incoming_rows=300, label_lag_months=3)
    batches = generate_incoming(params)
    assert [b.month for b in batches] == ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
    assert [b.labelled for b in batches] == [True, True, True, False, False, False]
    for batch in batches:
        dates = batch.frame["fecha_prestamo"].dt.to_period("M")
        assert (dates == pd.Period(batch.month, "M")).all()
        labels, leak = batch.frame["Pago_atiempo"], batch.frame["puntaje"]
        if batch.labelled:
            assert labels.notna().all() and leak.notna().all()
        else:
            assert labels.isna().all() and leak.isna().all()


def test_later_incoming_batches_drift_and_default_more() -> None:
    params = shipped(GenerateParams, incoming_months=6, incoming_rows=3_000, label_lag_months=0, quirks=False)
    first, *_, last = (batch.frame for batch in generate_incoming(params))
    assert last["huella_consulta"].mean() > first["huella_consulta"].mean() + 1.5
    assert (last["tipo_credito"] == 9).mean() > (first["tipo_credito"] == 9).mean() + 0.15
    assert last["puntaje_datacredito"].median() < first["puntaje_datacredito"].median() - 20
    assert last["salario_cliente"].median() > first["salario_cliente"].median()
    assert (last["Pago_atiempo"] == 0).mean() > (first["Pago_atiempo"] == 0).mean() + 0.02


def test_no_drift_when_strength_is_zero() -> None:
    params = shipped(GenerateParams, incoming_months=4, incoming_rows=2_000, quirks=False, drift_strength=0.0)
    first, *_, last = (batch.frame for batch in generate_incoming(params))
    assert abs(last["huella_consulta"].mean() - first["huella_consulta"].mean()) < 0.4


def test_unobserved_risk_moves_the_defaults_and_nothing_else() -> None:
    """Its own setting: the same loans, the same uniform draws, only the outcomes (and the leak drawn from them)
    move; off, the drifted batch defaults only as its columns say; the first, undrifted batch never moves."""
    def batches(risk: float) -> list[pd.DataFrame]:
        params = shipped(GenerateParams, incoming_months=4, incoming_rows=3_000, label_lag_months=0, quirks=False,
                         unobserved_risk=risk)
        return [batch.frame for batch in generate_incoming(params)]

    off, shipped_risk, strong = batches(0.0), batches(SHIPPED_PARAMS["generate"]["unobserved_risk"]), batches(1.0)
    columns = [name for name in off[0].columns if name not in ("Pago_atiempo", "puntaje")]
    for frames in (shipped_risk, strong):
        for this, base in zip(frames, off, strict=True):
            pd.testing.assert_frame_equal(this[columns], base[columns])
    pd.testing.assert_frame_equal(strong[0], off[0])
    rates = [float((frames[-1]["Pago_atiempo"] == 0).mean()) for frames in (off, shipped_risk, strong)]
    assert rates[0] < rates[1] < rates[2]
    assert rates[2] > 2 * rates[0], "1.0 log-odds (odds x 2.7) at drift level 1 more than doubles the default rate"


# --- writing and params --------------------------------------------------------------------

def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "loans.csv"
    target.write_text("previous\n")
    broken = generate_history(shipped(GenerateParams, rows=200)).astype({"capital_prestado": object})
    broken.loc[5, "capital_prestado"] = "not a number"
    with pytest.raises(ValueError):
        write_csv(broken, target, quirks=True, seed=1)
    assert target.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["loans.csv"]


def test_params_block_is_validated() -> None:
    block = {**SHIPPED_PARAMS["generate"], "rows": 500, "history_formats": ["csv"]}
    params = section({"generate": block}, "generate", GenerateParams)
    assert params.rows == 500 and params.history_formats == ("csv",)
    with pytest.raises(ParamsError, match="generate.rows"):
        shipped(GenerateParams, rows=10)
    with pytest.raises(ParamsError, match="generate.label_lag_months"):
        shipped(GenerateParams, incoming_months=2, label_lag_months=3)
    with pytest.raises(ParamsError, match="generate.history_formats"):
        shipped(GenerateParams, history_formats=("parquet",))


def test_stage_writes_the_export_from_params(tmp_path: Path) -> None:
    block = {**SHIPPED_PARAMS["generate"], "rows": 500, "incoming_months": 2, "incoming_rows": 50,
             "label_lag_months": 1, "history_formats": ["csv"]}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"generate": block}))
    done = subprocess.run([sys.executable, str(REPO / "stages" / "generate.py")], cwd=tmp_path,
                          capture_output=True, text=True, check=True)
    assert "500 history rows" in done.stdout and "2 incoming batches (1 labelled)" in done.stdout
    assert sorted(p.name for p in (tmp_path / "data" / "incoming").iterdir()) == [
        "loans_2026-05.csv", "loans_2026-06.csv"]
    assert [p.name for p in (tmp_path / "data" / "source").iterdir()] == ["loans.csv"]
