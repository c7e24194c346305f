"""A selected scorecard is served like any candidate: through the pipeline (the engine's fallback), with its PD,
band, points (the sum of its points table) and reasons (the characteristics with the most points lost against
their best bin), in the API and in batch scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditrisk.data.contract import coerce_and_validate
from creditrisk.modeling.bundle import save_bundle
from creditrisk.modeling.engine import build_engine, PointsExplainer
from creditrisk.modeling.engine.compiled import SCORECARD_ROUTE
from creditrisk.modeling.features import default_target
from creditrisk.modeling.reasons import reason_catalogue
from creditrisk.modeling.scorecard import scorecard_table
from creditrisk.modeling.training import train_bundle
from creditrisk.serving.batch import run_in_process, score_dataset
from tests.api_support import api_config
from tests.scorecard_support import feature_set, fitted_bundle, labelled_loans, sample_loans, train_params


@pytest.fixture(scope="module")
def bundle():
    return fitted_bundle("scorecard", labelled_loans(3000, seed=5), train_params())


@pytest.fixture(scope="module")
def model_file(bundle, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scorecard") / "model.skops"
    save_bundle(bundle, path)
    return path


@pytest.fixture(scope="module")
def applicants() -> pd.DataFrame:
    rows = sample_loans(40, seed=9)  # every contract column, as a client sends them
    rows.loc[rows.index[::5], "puntaje_datacredito"] = np.nan  # missing values take the missing bin
    return rows


def expected_reasons(bundle, frame: pd.DataFrame) -> list[list[str]]:
    """Per row, the characteristics losing the most points against their best bin (ties: card order)."""
    card = scorecard_table(bundle.pipeline, bundle.points_scale)
    lost = card.points_lost(card.domain.transform(frame))
    top_k = bundle.metadata["reasons"]["top_k"]
    names = []
    for row in lost:
        order = np.argsort(-row, kind="stable")[:top_k]
        names.append([card.characteristics[i] for i in order if round(row[i] / card.scale.factor, 6) > 0])
    return names


def test_the_engine_scores_a_scorecard_through_its_pipeline_with_points_lost_as_reasons(bundle, applicants):
    engine = build_engine(bundle)
    assert engine.route == SCORECARD_ROUTE and not engine.compiled and isinstance(engine.explainer, PointsExplainer)
    np.testing.assert_array_equal(engine.predict_pd(applicants), bundle.predict_pd(applicants))
    card = scorecard_table(bundle.pipeline, bundle.points_scale)
    contributions = engine.explain(applicants)
    assert list(contributions.columns) == card.characteristics
    assert (contributions.to_numpy() >= 0).all()  # never above a characteristic's best bin
    np.testing.assert_allclose(contributions.to_numpy() * card.scale.factor,
                               card.points_lost(card.domain.transform(applicants)))


def test_the_api_serves_a_selected_scorecard_with_points_bands_and_reasons(bundle, model_file, applicants,
                                                                          tmp_path: Path):
    from app import create_app

    client = create_app(api_config(tmp_path, model_file)).test_client()
    sent = applicants.assign(fecha_prestamo=applicants["fecha_prestamo"].dt.strftime("%Y-%m-%dT%H:%M:%S"))
    records = sent.astype(object).where(sent.notna(), None).to_dict(orient="records")
    response = client.post("/predict?reasons=true", json=records)
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["predictions"]
    frame = coerce_and_validate(applicants, purpose="scoring").frame
    pds = bundle.predict_pd(frame)
    card = scorecard_table(bundle.pipeline, bundle.points_scale)
    np.testing.assert_allclose([row["pd"] for row in results], pds, rtol=1e-12)
    assert [row["band"] for row in results] == bundle.band_of(pds).tolist()
    np.testing.assert_allclose([row["points"] for row in results], np.round(card.total(frame), 1), atol=1e-9)
    catalogue = reason_catalogue()
    assert [[reason["feature"] for reason in row["reasons"]] for row in results] == expected_reasons(bundle, frame)
    assert all(reason["code"] == catalogue[reason["feature"]].code for row in results for reason in row["reasons"])
    assert any(row["reasons"] for row in results)


def test_batch_scoring_gives_a_scorecard_its_points_and_reason_codes(bundle, model_file, applicants, tmp_path: Path):
    dataset = tmp_path / "loans.parquet"
    applicants.to_parquet(dataset, index=False)
    summary = score_dataset(dataset, tmp_path / "scored", model_file, run_in_process, "pandas", reasons=True)
    assert summary.rows_scored == len(applicants)
    scores = pd.read_parquet(tmp_path / "scored" / "scores").sort_values("row")
    frame = coerce_and_validate(applicants, purpose="scoring").frame
    card = scorecard_table(bundle.pipeline, bundle.points_scale)
    np.testing.assert_allclose(scores["pd"], bundle.predict_pd(frame), rtol=1e-12)
    np.testing.assert_allclose(scores["points"], np.round(card.total(frame), 1), atol=1e-9)
    codes = [";".join(reason_catalogue()[name].code for name in names) for names in expected_reasons(bundle, frame)]
    assert scores["reason_codes"].tolist() == codes


def test_the_train_stage_selects_and_ships_a_scorecard_that_scores_like_its_points_table():
    """With the scorecard the only candidate, training selects it, keeps its calibration linear on the logit and
    ships its points table; the benchmark is the same bundle."""
    loans = labelled_loans(2000, seed=6)
    params = train_params(candidates=["scorecard"], cv_folds=3, forward_folds=3)
    result = train_bundle(loans, default_target(loans), feature_set(), params, benchmark=True)
    bundle = result.bundle
    assert bundle.metadata["model"] == "scorecard" and result.benchmark is bundle
    assert bundle.metadata["calibration"].split("/")[0].split("+")[0] in ("none", "sigmoid")
    card = scorecard_table(bundle.pipeline, bundle.points_scale)
    assert [row["points"] for row in bundle.metadata["points_table"]] == [row["points"] for row in card.rows()]
    np.testing.assert_allclose(card.total(loans), bundle.points_scale.points(bundle.predict_pd(loans)), atol=1e-6)
    assert result.comparison[["model", "monotone", "competes"]].values.tolist() == [["scorecard", True, True]]
