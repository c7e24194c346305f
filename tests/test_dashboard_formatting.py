"""How the dashboard names and writes things for a reader (dashboard/formatting.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from creditrisk.data.contract import COLUMNS, CURRENCY
from creditrisk.modeling.candidates import CANDIDATES
from dashboard import formatting
from dashboard.components import table_config


def test_report_keys_read_as_words_and_the_worse_direction_of_a_delta_is_said() -> None:
    assert formatting.label("delta_roc_auc") == "Δ ROC-AUC vs test"
    assert "negative is worse" in formatting.COLUMN_HELP["delta_roc_auc"]
    assert formatting.label("calibration_in_the_large_pvalue") == "calibration in the large p"
    assert formatting.label("labelled_rows") == "labelled rows"
    assert all("_" not in text for text in formatting.COLUMN_LABELS.values())


def test_money_columns_are_those_the_contract_says_are_pesos() -> None:
    money = {spec.name for spec in COLUMNS if spec.unit == CURRENCY}
    assert money == {"capital_prestado", "salario_cliente", "total_otros_prestamos", "cuota_pactada", "saldo_mora",
                     "saldo_total", "saldo_principal", "saldo_mora_codeudor", "promedio_ingresos_datacredito"}
    assert all("(COP)" in spec.description for spec in COLUMNS if spec.name in money)
    assert formatting.with_unit("salario_cliente") == "salario_cliente (COP)"
    assert formatting.with_unit("edad_cliente") == "edad_cliente"
    assert formatting.money(2_500_000.0, "capital_prestado") == "2,500,000 COP"


@pytest.mark.parametrize(("text", "column", "shown"), [
    ("(-inf, 0.0133456]", "__score__", "≤ 1.33 %"),
    ("(0.0133456, 0.0161446]", "__score__", "1.33–1.61 %"),
    ("(0.0801931, inf)", "__score__", "> 8.02 %"),
    ("(3.6e+05, 8e+05]", "capital_prestado", "360k–800k COP"),
    ("(1.61e+07, inf)", "salario_cliente", "> 16.1M COP"),
    ("(-inf, 28]", "edad_cliente", "≤ 28"),
    ("(2.5, 3]", "huella_consulta", "2.5–3"),
    ("__missing__", "tipo_credito", "missing"),
    ("__unseen__", "tipo_credito", "unseen (not in training)"),
    ("9", "tipo_credito", "9"),
    ("missing", "edad_cliente", "missing"),
])
def test_bins_read_as_ranges_in_their_units(text: str, column: str, shown: str) -> None:
    assert formatting.bin_label(text, column) == shown


def test_every_candidate_has_a_title_and_an_unknown_model_reads_with_spaces() -> None:
    assert formatting.model_title("hist_gradient_boosting") == "Gradient boosting"
    assert all(entry.title and "_" not in entry.title for entry in CANDIDATES.values())
    assert formatting.model_title("gradient_boosted_trees") == "gradient boosted trees"


def test_band_colours_run_from_green_to_red_in_risk_order() -> None:
    five = formatting.band_colours(["A", "B", "C", "D", "E"])
    assert list(five.values()) == list(formatting.BAND_PALETTE)
    three = formatting.band_colours(["A", "B", "C"])
    assert three == {"A": "#1b7837", "B": "#d9c21f", "C": "#c62828"}
    assert formatting.band_colours(["only"]) == {"only": "#1b7837"}


def test_a_report_table_keeps_its_keys_and_shows_labels_formats_and_tooltips() -> None:
    table = pd.DataFrame({"window": ["2026-05"], "delta_roc_auc": [-0.03], "default_rate": [0.0306],
                          "ks_pvalue_adj": [1.3e-85], "reason": ["PSI 0.559"]})
    config = table_config(table, pinned=("window",))
    assert list(config) == list(table.columns)
    assert config["delta_roc_auc"]["label"] == "Δ ROC-AUC vs test"
    assert "negative is worse" in config["delta_roc_auc"]["help"]
    assert config["delta_roc_auc"]["type_config"]["format"] == "%+.3f"
    assert config["default_rate"]["type_config"]["format"] == "percent"
    assert config["ks_pvalue_adj"]["type_config"]["format"] == "%.3g"
    assert config["window"]["pinned"] is True and config["reason"]["width"] == "large"
    assert table_config(table, labels={"window": "month"})["window"]["label"] == "month"


def test_a_scorecard_bin_reads_as_a_range_in_its_units():
    points_bin_label, variant_title = formatting.points_bin_label, formatting.variant_title
    assert points_bin_label("[-inf, 2.182e+06)", "capital_prestado") == "< 2.18M COP"
    assert points_bin_label("[2.182e+06, 4.074e+06)", "capital_prestado") == "2.18M–4.07M COP"
    assert points_bin_label("[62, +inf)", "edad_cliente") == "≥ 62"
    assert points_bin_label("missing", "edad_cliente") == "missing"
    assert points_bin_label("Creciente, Estable", "tendencia_ingresos") == "Creciente, Estable"
    assert variant_title("hist_gradient_boosting", True) == "Gradient boosting, monotone"
    assert variant_title("logistic", False) == "Logistic regression, unconstrained"
    assert variant_title("logistic") == "Logistic regression"
