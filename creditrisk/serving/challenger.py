"""The shadow challenger: a second model that scores every batch after the champion and never answers.

The API scores the challenger on the batch the champion scored, after the champion's answer is complete,
and logs its answer beside the champion's (`predlog.ChallengerScores`); the comparison of the two is the
monitoring wing's (`creditrisk.monitoring.compare`). Nothing here touches what the client is sent.
"""

from __future__ import annotations

import numpy as np

from creditrisk.serving.predlog import ChallengerScores
from creditrisk.serving.scoring import BatchScorer, ValidatedBatch


def challenger_scores(scorer: BatchScorer, batch: ValidatedBatch) -> ChallengerScores:
    """The challenger's PD, band and decision for the rows of `batch`.

    The batch is the one the data contract validated for the champion (one check for both models), and the
    challenger gives no points and no reasons: the log keeps neither for it, and the reasons are most of
    the cost of a large batch.
    """
    bundle = scorer.bundle
    pds = np.asarray(scorer.predict_pd(batch.frame), dtype="float64")
    if pds.shape != (len(batch),):
        raise ValueError(f"challenger {bundle.version} gave {pds.shape} PDs for a batch of {len(batch)} rows")
    return ChallengerScores(bundle.version, pds, bundle.band_of(pds), bundle.decide(pds))


def disagreements(champion_decisions: np.ndarray, challenger: ChallengerScores) -> int:
    """How many rows the challenger would have decided otherwise than the champion."""
    return int(np.count_nonzero(np.asarray(champion_decisions) != challenger.decisions))
