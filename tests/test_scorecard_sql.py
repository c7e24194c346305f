"""The scorecard in SQL: one SELECT that gives the Python scorecard's points, PD and band on SQLite and on a real
PostgreSQL server, for 10,000 sample rows plus every bin edge, missing values, special codes and unseen
categories."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from creditrisk.modeling.features import feature_kind
from creditrisk.modeling.scorecard import scorecard_table
from creditrisk.modeling.scorecard_sql import literal, scorecard_select, ScorecardSqlError
from tests.scorecard_support import RAW_INPUTS, fitted_bundle, labelled_loans, sample_loans, train_params

SPECIAL = {"huella_consulta": [0.0]}  # a code scored in a bin of its own (the contract keeps zeros)
POINTS_TOLERANCE = 1e-9
TABLE = "loans"

# How to put a characteristic exactly on a value through the contract columns it is computed from.
SETTERS = {
    "debt_to_income": lambda v: {"cuota_pactada": v, "salario_cliente": 1.0},
    "loan_to_income": lambda v: {"capital_prestado": v, "salario_cliente": 1.0},
    "repayment_ratio": lambda v: {"cuota_pactada": v, "plazo_meses": 1.0, "capital_prestado": 1.0},
    "bureau_to_declared_income": lambda v: {"promedio_ingresos_datacredito": v, "salario_cliente": 1.0},
    "has_arrears": lambda v: {"saldo_mora": v},
    "bureau_income_missing": lambda v: {"promedio_ingresos_datacredito": None if v >= 0.5 else 1.0},
}


@pytest.fixture(scope="module")
def bundle():
    return fitted_bundle("scorecard", labelled_loans(4000, seed=3), train_params(scorecard={"special_codes": SPECIAL,
                                                                                             "min_iv": 0.0}))


def edge_rows(bundle, base: pd.Series) -> pd.DataFrame:
    """Rows of `base` with one characteristic on each bin edge, a hair below it, missing, on each special code;
    a category on each of its values, blank, padded with spaces and unseen."""
    card = scorecard_table(bundle.pipeline, bundle.points_scale)
    rows = []
    for name in card.characteristics:
        setter = SETTERS.get(name, lambda v, name=name: {name: v})
        if feature_kind(name) == "category":
            known = [category for bin in card.binning.bins_[name] for category in bin.categories]
            values = [*known, *(f"  {category} " for category in known), "", None, "never seen"]
            rows += [{**base, name: value} for value in values]
            continue
        values: list[float | None] = [None]
        for bin in card.binning.bins_[name]:
            if bin.kind == "range" and bin.upper is not None:
                values += [bin.upper, float(np.nextafter(bin.upper, -np.inf)), float(np.nextafter(bin.upper, np.inf))]
            values += list(bin.codes)
        rows += [{**base, **setter(value)} for value in values]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def portfolio(bundle) -> pd.DataFrame:
    """10,000 sample rows, then the edge rows, as the contract types them (text categories, float numbers)."""
    sample = sample_loans(10_000, seed=8)[RAW_INPUTS].reset_index(drop=True)
    sample.loc[sample.index[::97], "edad_cliente"] = np.nan
    sample.loc[sample.index[::89], "tendencia_ingresos"] = pd.NA
    edges = edge_rows(bundle, sample.iloc[0])
    frame = pd.concat([sample, edges], ignore_index=True)
    for name in RAW_INPUTS:
        frame[name] = frame[name].astype("string" if feature_kind(name) == "category" else "float64")
    return frame.assign(row_id=np.arange(len(frame)))  # a table has no order: the SELECT passes this through


def expected(bundle, frame: pd.DataFrame) -> pd.DataFrame:
    card = scorecard_table(bundle.pipeline, bundle.points_scale)
    pds = bundle.predict_pd(frame)
    return pd.DataFrame({"points": card.total(frame), "pd": pds, "band": bundle.band_of(pds)})


def assert_same(found: pd.DataFrame, want: pd.DataFrame) -> None:
    found = found.sort_values("row_id").reset_index(drop=True)
    assert found["row_id"].tolist() == list(range(len(want)))
    np.testing.assert_allclose(found["points"].to_numpy(dtype=float), want["points"], rtol=0, atol=POINTS_TOLERANCE)
    np.testing.assert_allclose(found["pd"].to_numpy(dtype=float), want["pd"], rtol=1e-12, atol=0)
    mismatched = np.flatnonzero(found["band"].to_numpy(dtype=object) != want["band"].to_numpy(dtype=object))
    assert mismatched.size == 0, f"bands differ on rows {mismatched[:10].tolist()}"


def _columns_sql(frame: pd.DataFrame, number: str) -> str:
    kinds = {"row_id": "INTEGER"}
    return ", ".join(f"{name} {kinds.get(name) or ('TEXT' if feature_kind(name) == 'category' else number)}"
                     for name in frame.columns)


def test_the_points_table_adds_up_to_the_points_the_api_serves(bundle, portfolio):
    card = scorecard_table(bundle.pipeline, bundle.points_scale)
    served = bundle.points_scale.points(bundle.predict_pd(portfolio))
    np.testing.assert_allclose(card.total(portfolio), served, rtol=0, atol=1e-6)
    assert np.array_equal(bundle.points(bundle.predict_pd(portfolio)), np.round(served, 1))


def test_sqlite_gives_the_python_scorecards_points_pd_and_band(bundle, portfolio):
    with sqlite3.connect(":memory:") as connection:
        connection.execute(f"CREATE TABLE {TABLE} ({_columns_sql(portfolio, 'DOUBLE PRECISION')})")
        rows = portfolio.astype(object).where(portfolio.notna(), None).itertuples(index=False, name=None)
        connection.executemany(f"INSERT INTO {TABLE} VALUES ({', '.join('?' * portfolio.shape[1])})", rows)
        found = pd.read_sql_query(scorecard_select(bundle, TABLE), connection)
    assert len(found) == len(portfolio) > 10_000
    assert_same(found, expected(bundle, portfolio))


@pytest.mark.slow
def test_postgresql_gives_the_python_scorecards_points_pd_and_band(bundle, portfolio, postgres_server):
    import psycopg

    url = postgres_server.create_database("scorecard_sql")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"CREATE TABLE {TABLE} ({_columns_sql(portfolio, 'DOUBLE PRECISION')})")
        rows = portfolio.astype(object).where(portfolio.notna(), None).itertuples(index=False, name=None)
        with connection.cursor() as cursor, cursor.copy(f"COPY {TABLE} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor = connection.execute(scorecard_select(bundle, TABLE))
        names = [column.name for column in cursor.description]
        found = pd.DataFrame(cursor.fetchall(), columns=names)
    assert_same(found, expected(bundle, portfolio))


def test_integer_codes_in_an_integer_column_read_as_the_model_reads_them(bundle, portfolio):
    """A warehouse may keep product codes as integers: the SELECT reads them as the model frame's text."""
    frame = portfolio[portfolio["tipo_credito"].isin(["4", "9", "10"])].head(500)
    frame = frame.assign(row_id=np.arange(len(frame)))
    with sqlite3.connect(":memory:") as connection:
        columns = _columns_sql(frame, "DOUBLE PRECISION").replace("tipo_credito TEXT", "tipo_credito INTEGER")
        connection.execute(f"CREATE TABLE {TABLE} ({columns})")
        stored = frame.astype(object).where(frame.notna(), None)
        stored["tipo_credito"] = stored["tipo_credito"].map(int)
        connection.executemany(f"INSERT INTO {TABLE} VALUES ({', '.join('?' * frame.shape[1])})",
                               stored.itertuples(index=False, name=None))
        found = pd.read_sql_query(scorecard_select(bundle, TABLE), connection)
    assert_same(found, expected(bundle, frame))


def test_another_model_has_no_sql_form_and_literals_read_back_exactly():
    bundle = fitted_bundle("logistic", labelled_loans(1500, seed=4), train_params())
    with pytest.raises(ScorecardSqlError, match="not a points scorecard"):
        scorecard_select(bundle, TABLE)
    for value in (0.1, 1e-7, 123456.789, -2.5, 1 / 3):
        with sqlite3.connect(":memory:") as connection:
            assert connection.execute(f"SELECT {literal(value)}").fetchone()[0] == value
    with pytest.raises(ScorecardSqlError, match="no SQL literal"):
        literal(float("nan"))
