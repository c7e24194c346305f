"""The scoring engine: a fitted model's PDs and each input's contribution to them, on numpy arrays.

Why it exists. scikit-learn's ColumnTransformer, estimators and calibration spend milliseconds per call on
pandas handling, input checks and job dispatch, whatever the number of rows, and a boosting walks each of
its trees per row. The engine compiles the fitted pipeline the train stage builds (`parts`) into numpy
arithmetic: the preprocessor from its fitted attributes (`encoding`), a gradient boosting's raw score from
lookup tables over its trees' thresholds (`grid`), a forest's trees called without the forest's dispatch
(`scorer`), and the contributions behind the adverse-action reasons as exact baseline Shapley values, looked
up per cell of the same grids (`attribution`, `explainer`). Measured on the shipped 200-tree boosting model
(`python benchmarks/api_bench.py`, 2 cores at load average about 1.2): in process on one thread, one row's PD
takes 1.8 ms instead of 10 ms through the pipeline and 10,000 rows' 16 ms instead of 72 ms; in the API's
server timings the reasons take 0.9 ms instead of 6.8 ms for one row and 58 ms instead of 73 ms for 10,000.

One entry point, `build_engine(bundle)` -> `Engine`:

- `engine.encode(frame)` -> `EncodedBatch`: the contract rows, their model frame and the estimator's input
  matrix, each computed once when first needed, so that `engine.pd_of(batch)` and
  `engine.contributions_of(batch)` of one batch share them;
- `engine.predict_pd(frame)` equals `bundle.predict_pd(frame)`; `engine.explain(frame)` gives the
  contributions to logit(PD) - logit(PD of the reference applicant) as a frame, one column per model input
  (`engine.columns`);
- `engine.route` says how the PDs are computed; `engine.explainer` is None when contributions are refused.

Private scikit-learn fields it reads. Only `trees` reads any: a fitted HistGradientBoostingClassifier's
`_predictors` (the node records of every tree) and `_baseline_prediction` (the constant of its raw score),
for which scikit-learn documents no public access. Everything else is documented fitted attributes and
methods (`Pipeline.steps`, `ColumnTransformer.transformers_` and `output_indices_`, `SimpleImputer.statistics_`,
`StandardScaler.mean_` and `scale_`, `OneHotEncoder.categories_` and `infrequent_categories_`, a forest's
`estimators_` and its trees' `tree_` and `predict_proba(check_input=False)`, `coef_` and `intercept_`).

How it is verified at load. `build_engine` makes probe rows from the model's own categories (every known
category, an unseen one, blanks, missing values, zeros, negative and huge numbers, every weekday and month)
and keeps the compiled PD only when, on those rows, its estimator input equals the fitted preprocessor's
(to 1e-12), its P(default) the estimator's and its PDs `bundle.predict_pd`'s (to 1e-12 relative); it keeps
the explainer only when the trees or coefficients it read give the estimator's own raw score (to 1e-8, or
1e-12 relative).

What happens when a scikit-learn upgrade changes them. Fields that are gone or shaped differently make the
reading give None: a boosting's PDs then come from the compiled preprocessor and the estimator's public
`predict_proba` (still verified), and there is no explainer. Fields that read but mean something else fail
the checks: the PDs come from the pipeline itself, and there is no explainer. Either way nothing wrong is
served: `route` says which way the PDs go (the API logs it at start), and without an explainer the API leaves
the reasons out and answers `?reasons=true` with 501 (tests/test_api_fastpath.py simulates both). A pipeline
of another structure (a scikit-learn calibration wrapper, a candidate the engine does not know) is scored by
the pipeline, unchanged. So is the points scorecard; its reasons come from its points table (`points`: the
points lost against each characteristic's best bin), and `route` says so.
"""

from creditrisk.modeling.engine.compiled import build_engine, EncodedBatch, Engine, ExplanationUnavailable
from creditrisk.modeling.engine.explainer import Explainer
from creditrisk.modeling.engine.points import PointsExplainer

__all__ = ["build_engine", "EncodedBatch", "Engine", "Explainer", "ExplanationUnavailable", "PointsExplainer"]
