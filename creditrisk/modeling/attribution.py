"""How much each model input moved one applicant's score away from a reference applicant's.

For a raw score f and a reference applicant r, the attribution of input j for applicant x is its Shapley
value in the game v(S) = f(x_S, r_rest): the score when the inputs in S take x's values and the others r's
("baseline Shapley", Sundararajan & Najmi, The many Shapley values for model explanation, ICML 2020;
for trees the interventional TreeSHAP of Lundberg et al., Nature Machine Intelligence 2, 2020, with one
background row). The attributions of a row add up to f(x) - f(r) exactly.

- Linear score: the Shapley value is coefficient_j * (x_j - r_j).
- Trees: a leaf whose path needs x's value on the features in A (where r would leave the path) and r's value
  on those in B (where x would) is reached exactly when S contains A and no feature of B; such a term gives
  each feature of A value * (|A|-1)! |B|! / (|A|+|B|)! and each feature of B minus value * |A|! (|B|-1)! /
  (|A|+|B|)! (Laberge & Pequignot, Understanding interventional TreeSHAP, TMLR 2023, section 3). A path's
  tests of one feature are merged into one interval first, so each feature is on one side. A leaf that no
  mix of x and r reaches (a feature whose x and r values both leave the path) gives nothing. The cost is
  linear in rows x leaves x depth.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse

from creditrisk.modeling.tree_paths import AdditiveForm, LeafPaths, follows

CHUNK_ROWS = 256  # rows per block of the tree attribution: bounds its memory at rows x leaves x depth


def attributions(form: AdditiveForm, matrix: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(rows, inputs): each input's share of raw score(row) - raw score(reference)."""
    matrix = np.asarray(matrix, dtype="float64")
    reference = np.asarray(reference, dtype="float64").ravel()
    if form.kind == "linear":
        assert form.coefficients is not None
        return (matrix - reference) * form.coefficients
    assert form.leaves is not None
    return _tree_attributions(form.leaves, matrix, reference)


def _shapley_weights(depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Tables over (|A|, |B|): the share of a leaf's value for one feature of A, and for one of B."""
    in_a = np.zeros((depth + 1, depth + 1))
    in_b = np.zeros((depth + 1, depth + 1))
    for a in range(depth + 1):
        for b in range(depth + 1):
            total = math.factorial(a + b)
            if a:
                in_a[a, b] = math.factorial(a - 1) * math.factorial(b) / total
            if b:
                in_b[a, b] = -math.factorial(a) * math.factorial(b - 1) / total
    return in_a, in_b


def _tree_attributions(leaves: LeafPaths, matrix: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """With r fixed, a step r leaves is in A for every row that reaches the leaf at all (x must follow it),
    and a step r follows is in B for the rows that leave it: so |A| is the leaf's count of steps r
    leaves, and only |B| and the leaf being open vary by row. Steps are taken one at a time on
    (rows, leaves) blocks, which keeps the work in cache."""
    steps = leaves.feature.shape[1]
    weight_a, weight_b = _shapley_weights(steps)
    reference_follows = follows(leaves, reference[leaves.feature])
    x_only = leaves.valid & ~reference_follows               # the steps of A, per leaf
    count_a = x_only.sum(axis=1)
    a_inputs = _inputs_of(leaves, x_only, matrix.shape[1])
    b_inputs = [_inputs_of(leaves, _only_step(leaves.valid & reference_follows, step), matrix.shape[1])
                for step in range(steps)]
    result = np.zeros(matrix.shape, dtype="float64")
    for start in range(0, len(matrix), CHUNK_ROWS):
        block = matrix[start:start + CHUNK_ROWS]
        missing = bool(np.isnan(block).any())
        open_leaf = np.ones((len(block), len(leaves.value)), dtype=bool)
        count_b = np.zeros(open_leaf.shape, dtype="int64")
        leaves_r = []
        for step in range(steps):
            row_follows = _step_follows(leaves, block, step, missing)
            open_leaf &= row_follows | reference_follows[:, step]
            leaves_r.append(~row_follows & reference_follows[:, step])
            count_b += leaves_r[-1]
        value = np.where(open_leaf, leaves.value, 0.0)
        share = a_inputs.T @ (value * weight_a[count_a, count_b]).T
        share_b = value * weight_b[count_a, count_b]
        for step in range(steps):
            share += b_inputs[step].T @ (leaves_r[step] * share_b).T
        result[start:start + len(block)] = share.T
    return result


def _step_follows(leaves: LeafPaths, block: np.ndarray, step: int, missing: bool) -> np.ndarray:
    values = block[:, leaves.feature[:, step]]
    inside = (values > leaves.lower[:, step]) & (values <= leaves.upper[:, step])
    if missing:
        inside |= np.isnan(values) & leaves.missing_follows[:, step]
    return inside


def _only_step(mask: np.ndarray, step: int) -> np.ndarray:
    only = np.zeros_like(mask)
    only[:, step] = mask[:, step]
    return only


def _inputs_of(leaves: LeafPaths, mask: np.ndarray, inputs: int) -> sparse.csr_matrix:
    """(leaves, inputs): 1 where a masked step of the leaf tests the input (a leaf tests an input once)."""
    leaf, step = np.nonzero(mask)
    return sparse.csr_matrix((np.ones(leaf.size), (leaf, leaves.feature[leaf, step])),
                             shape=(mask.shape[0], inputs))
