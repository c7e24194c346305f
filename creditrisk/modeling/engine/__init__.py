"""The scoring engine: a fitted model's PDs and each input's contribution to them, on numpy arrays.

Why it exists. scikit-learn's ColumnTransformer, estimators and calibration spend milliseconds per call on
pandas handling, input checks and job dispatch, whatever the number of rows, and a boosting walks each of
its trees per row. The engine compiles the fitted pipeline the train stage builds (`parts`) into numpy
arithmetic: the preprocessor from its fitted attributes (`encoding`), a gradient boosting's raw score from
lookup tables over its trees' thresholds (`grid`), a forest's trees called without the forest's dispatch
(`scorer`), and the contributions behind the adverse-action reasons as exact baseline Shapley values, looked
up per cell of the same grids (`attribution`, `explainer`).

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
the explainer only when the trees or coefficients it read give the estimator's own raw score (to 1e-8).

What happens when a scikit-learn upgrade changes them. A field that is gone or shaped differently makes the
reading give None; one that reads but means something else fails the checks. Either way nothing wrong is
served: the PDs come from the pipeline itself (`route` says why, and the API logs it at start; a boosting
whose trees cannot be read keeps the compiled preprocessor and calls its public `predict_proba`), and
without a verified reading there is no explainer, so the API refuses reasons (501) instead of giving wrong
ones. A pipeline of another structure (a scikit-learn calibration wrapper, a binning scorecard, a candidate
the engine does not know) takes the same way: the pipeline scores it, unchanged.
"""

from creditrisk.modeling.engine.compiled import build_engine, EncodedBatch, Engine, ExplanationUnavailable
from creditrisk.modeling.engine.explainer import Explainer

__all__ = ["build_engine", "EncodedBatch", "Engine", "Explainer", "ExplanationUnavailable"]
