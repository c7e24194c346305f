"""Tree ensembles as lookup tables over the grid of their thresholds.

Within one tree, which leaf a row reaches depends only on which interval between the tree's thresholds
(or the missing value) each input it tests falls in. So does anything computed from that leaf: its value,
or an input's attribution against a fixed reference (`attribution`). A group of trees whose
thresholds make a grid of at most `max_cells` cells is one table; a row's entry in it is found by counting,
per input, the thresholds below its value. Trees join the table whose grid they grow least (a sum of trees
is as additive as each); a tree whose own grid is larger stays out (`alone`), for its caller to handle.

`TreeValues` uses the grid to give an ensemble's raw score: the sum of the leaf values a row reaches, one
lookup per table instead of one walk per tree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sized
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from creditrisk.modeling.engine.trees import AdditiveForm, follows, LEAF_SUM_CHUNK_ROWS, leaf_value_sums, LeafPaths

LOOKUP_CHUNK_ROWS = 2048  # rows per block of a lookup: bounds its memory at rows x tables x slots


def _codes_per_input(limits: Iterable[Sized]) -> list[int]:
    """An input with n thresholds has n + 2 codes: the n + 1 intervals between them, and missing."""
    return [len(values) + 2 for values in limits]


@dataclass(frozen=True)
class GridTable:
    """One table: the inputs it reads, each one's thresholds (the table's limits) and the trees in it."""

    inputs: list[int]
    limits: list[np.ndarray]
    trees: list[int]

    @property
    def cells(self) -> int:
        return math.prod(_codes_per_input(self.limits))

    def cell_codes(self) -> tuple[np.ndarray, ...]:
        """Per input of the table, each cell's code, in the order `ThresholdGrid.cells` numbers the cells."""
        return np.unravel_index(np.arange(self.cells), _codes_per_input(self.limits), order="F")

    def code_values(self) -> list[np.ndarray]:
        """Per input of the table, one value inside each code's interval: code c < n is (limit[c-1], limit[c]]
        (its upper end is inside), n is above the last limit, n + 1 is missing. An input without limits (its only
        split sends missing values one way and every number the other) has two codes: any number, and missing."""
        return [np.concatenate([values, [np.nextafter(values[-1], np.inf) if len(values) else 0.0, np.nan]])
                for values in self.limits]

    def cell_points(self, background: np.ndarray) -> np.ndarray:
        """(cells, inputs): `background` with the table's inputs set to one value inside each cell
        (`code_values`), in the order `ThresholdGrid.cells` numbers them."""
        points = np.tile(np.asarray(background, dtype="float64"), (self.cells, 1))
        for column, inside, code in zip(self.inputs, self.code_values(), self.cell_codes(), strict=True):
            points[:, column] = inside[code]
        return points


@dataclass(frozen=True)
class ThresholdGrid:
    """Where each row falls in each table: `cells(block)` gives (rows, tables) positions in one flat
    numbering of every table's cells (table by table, in order)."""

    tables: list[GridTable]
    alone: list[int]              # trees too large for a table
    thresholds: list[np.ndarray]  # per input: every threshold a table tests on it, sorted
    slot_input: np.ndarray        # (tables * slots,) the input each slot of each table reads (padding: 0)
    cell_step: np.ndarray         # (tables * slots, codes) what an input's code adds to its table's cell

    @property
    def slots(self) -> int:
        return len(self.slot_input) // max(len(self.tables), 1)

    @cached_property
    def _cell_type(self) -> type[np.signedinteger]:
        """int32 while every position fits (half the memory traffic of intp), else intp."""
        largest = max(sum(table.cells for table in self.tables), self.cell_step.size)
        return np.int32 if largest < np.iinfo(np.int32).max else np.intp

    @cached_property
    def _slot_steps(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per slot: the input each table reads in it, and its `cell_step` rows flattened."""
        slots = self.slots
        return [(self.slot_input[slot::slots], self.cell_step[slot::slots].ravel().astype(self._cell_type))
                for slot in range(slots)]

    @cached_property
    def _row_start(self) -> np.ndarray:
        """(tables, 1): where each table's row of steps starts in a slot's flattened steps."""
        return (np.arange(len(self.tables)) * self.cell_step.shape[1]).astype(self._cell_type)[:, None]

    @cached_property
    def _search_limits(self) -> list[tuple[int, np.ndarray]]:
        """Per input a table reads: its thresholds and +inf. Sorted search puts NaN after +inf, so a missing
        value's count is one more than any number's, the code `_codes_per_input` gives it (an input without
        thresholds, split only on missing, too)."""
        read = {column for table in self.tables for column in table.inputs}  # every input with thresholds, too
        return [(column, np.append(values, np.inf)) for column, values in enumerate(self.thresholds) if column in read]

    def cells(self, block: np.ndarray) -> np.ndarray:
        """(rows, tables) positions of the rows' cells (a view of `table_cells`)."""
        return self.table_cells(block).T

    def table_cells(self, block: np.ndarray) -> np.ndarray:
        """(tables, rows): slot by slot, each table's step for its input's code added to the rows' cells.
        Table-major, so every gather and sum runs along contiguous rows."""
        codes = self._codes(block)
        cells = np.zeros((len(self.tables), len(block)), dtype=self._cell_type)
        for inputs, steps in self._slot_steps:
            positions = codes[inputs]
            positions += self._row_start
            cells += np.take(steps, positions)
        return cells

    def _codes(self, block: np.ndarray) -> np.ndarray:
        """(inputs, rows): per input, the count of its thresholds below the value; missing gets count + 1."""
        columns = np.ascontiguousarray(block.T)
        codes = np.zeros(columns.shape, dtype=self._cell_type)
        for column, limits in self._search_limits:
            codes[column] = np.searchsorted(limits, columns[column], side="left")
        return codes


def _tree_thresholds(leaves: LeafPaths) -> list[dict[int, set[float]]]:
    """Per tree: input -> the thresholds the tree tests on it."""
    found: list[dict[int, set[float]]] = [{} for _ in range(int(leaves.tree.max()) + 1)] if len(leaves.tree) else []
    for leaf, step in zip(*np.nonzero(leaves.valid), strict=True):
        bounds = found[leaves.tree[leaf]].setdefault(int(leaves.feature[leaf, step]), set())
        bounds.update(value for value in (leaves.lower[leaf, step], leaves.upper[leaf, step]) if np.isfinite(value))
    return found


def _cells(grid: dict[int, set[float]]) -> int:
    return math.prod(_codes_per_input(grid.values()))


def _merged_cells(joined: dict[int, set[float]], grid: dict[int, set[float]], limit: int) -> int:
    """Cells of the two grids merged, or `limit` as soon as the count reaches it (every input's factor is at least
    2, so the count only grows): most tables are ruled out after an input or two."""
    cells, empty = 1, frozenset()
    for column in joined.keys() | grid.keys():
        cells *= len(joined.get(column, empty) | grid.get(column, empty)) + 2
        if cells >= limit:
            return limit
    return cells


def _group_trees(per_tree: list[dict[int, set[float]]], max_cells: int) -> tuple[list[GridTable], list[int]]:
    """(tables, trees too large for a table). Each tree joins the table whose grid it grows least, or
    starts one; a tree without a split adds the same value to every row and joins none."""
    groups: list[tuple[dict[int, set[float]], list[int]]] = []
    alone: list[int] = []
    for tree in sorted(range(len(per_tree)), key=lambda number: sorted(per_tree[number])):
        grid = per_tree[tree]
        if not grid:
            continue
        if _cells(grid) > max_cells:
            alone.append(tree)
            continue
        best, best_cells = None, max_cells + 1
        for position, (joined, _) in enumerate(groups):
            merged = _merged_cells(joined, grid, best_cells)
            if merged < best_cells:
                best, best_cells = position, merged
        if best is None:
            groups.append(({column: set(values) for column, values in grid.items()}, [tree]))
            continue
        joined, members = groups[best]
        for column, values in grid.items():
            joined.setdefault(column, set()).update(values)
        members.append(tree)
    tables = [GridTable(sorted(grid), [np.array(sorted(grid[column])) for column in sorted(grid)], members)
              for grid, members in groups]
    return tables, alone


def threshold_grid(leaves: LeafPaths, inputs: int, max_cells: int) -> ThresholdGrid:
    """The tables of `leaves`' trees, for matrices of `inputs` columns."""
    tables, alone = _group_trees(_tree_thresholds(leaves), max_cells)
    slots = max((len(table.inputs) for table in tables), default=1)
    thresholds = [np.unique(np.concatenate([np.zeros(0), *(table.limits[table.inputs.index(column)]
                                                            for table in tables if column in table.inputs)]))
                  for column in range(inputs)]
    width = max((len(values) for values in thresholds), default=0) + 2
    slot_input = np.zeros(len(tables) * slots, dtype="intp")
    cell_step = np.zeros((len(tables) * slots, width), dtype="intp")
    offsets = np.cumsum([0] + [table.cells for table in tables])[:-1].astype("intp")
    for number, table in enumerate(tables):
        stride = 1
        for slot, (column, values) in enumerate(zip(table.inputs, table.limits, strict=True)):
            at = number * slots + slot
            slot_input[at] = column
            # An input's code g counts its thresholds below x; the table's code counts the table's own limits
            # below x, which are those among the input's first g.
            positions = np.searchsorted(thresholds[column], values)
            local = np.searchsorted(positions, np.arange(len(thresholds[column]) + 1), side="left")
            local = np.concatenate([local, [len(values) + 1]])
            cell_step[at, :len(local)] = local * stride
            stride *= len(values) + 2  # `_codes_per_input`, slot by slot
        cell_step[number * slots] += offsets[number]
    return ThresholdGrid(tables, alone, thresholds, slot_input, cell_step)


MAX_VALUE_CELLS = 65_536  # cells of one table of leaf values (8 bytes each)


@dataclass(frozen=True)
class TreeValues:
    """An ensemble's raw score by lookup: its constant plus, per table, the sum of the leaf values its
    trees give in the row's cell, plus the leaves of the trees left out of the tables."""

    grid: ThresholdGrid
    values: np.ndarray          # (cells of all tables,)
    constant: float
    rest: LeafPaths | None

    def raw_score(self, matrix: np.ndarray) -> np.ndarray:
        matrix = np.asarray(matrix, dtype="float64")
        score = np.full(len(matrix), self.constant)
        for start in range(0, len(matrix), LOOKUP_CHUNK_ROWS):
            block = matrix[start:start + LOOKUP_CHUNK_ROWS]
            score[start:start + len(block)] += np.take(self.values, self.grid.table_cells(block)).sum(axis=0)
        if self.rest is not None:
            score += leaf_value_sums(self.rest, matrix)
        return score


def tree_values(form: AdditiveForm, inputs: int, max_cells: int = MAX_VALUE_CELLS) -> TreeValues:
    """The lookup form of a tree ensemble's raw score (`form.kind == "trees"`)."""
    assert form.leaves is not None
    leaves = form.leaves
    grid = threshold_grid(leaves, inputs, max_cells)
    values = [np.zeros(0)]
    for table in grid.tables:
        values.append(cell_leaf_sums(table, leaves.subset(np.isin(leaves.tree, table.trees))))
    rest = leaves.subset(np.isin(leaves.tree, grid.alone)) if grid.alone else None
    placed = [tree for table in grid.tables for tree in table.trees] + grid.alone
    unsplit = ~np.isin(leaves.tree, placed)  # trees of one leaf: the same value for every row
    return TreeValues(grid, np.concatenate(values), form.constant + float(leaves.value[unsplit].sum()), rest)


def cell_leaf_sums(table: GridTable, leaves: LeafPaths) -> np.ndarray:
    """Per cell of `table`, the sum of the values of the `leaves` (of the table's trees) its points reach:
    `leaf_value_sums(leaves, table.cell_points(background))` for any background, bit for bit, at half its cost.

    Whether a point follows a leaf's step on one of the table's inputs depends only on the cell's code for that
    input, so each step is tested once per code (a few dozen values) instead of once per cell (up to
    `max_cells`); a cell reaches a leaf when its code follows on every input. The sums are then taken as
    `leaf_value_sums` takes them, in the same blocks of rows, so the floating-point additions are the same."""
    follows_per_code = _follows_per_code(table, leaves)
    codes = table.cell_codes()
    sums = np.zeros(table.cells)
    for start in range(0, table.cells, LEAF_SUM_CHUNK_ROWS):
        block = slice(start, start + LEAF_SUM_CHUNK_ROWS)
        reached = np.ones((len(codes[0][block]), len(leaves.value)), dtype=bool)
        for by_code, code in zip(follows_per_code, codes, strict=True):
            reached &= by_code[code[block]]
        # In Fortran order, as `leaf_value_sums` has it: BLAS then adds up each row's leaves in the same order.
        sums[block] = reached.astype("float64", order="F") @ leaves.value
    return sums


def _follows_per_code(table: GridTable, leaves: LeafPaths) -> list[np.ndarray]:
    """Per input of `table`, (codes, leaves): a point with that code follows every step of the leaf on the input.
    Every step of the table's trees tests one of its inputs (`_tree_thresholds`)."""
    return [follows(_steps_on(leaves, column), values[:, None, None]).all(axis=2)
            for column, values in zip(table.inputs, table.code_values(), strict=True)]


def _steps_on(leaves: LeafPaths, column: int) -> LeafPaths:
    """`leaves` with only the steps that test `column` left valid (the rest count as followed)."""
    return LeafPaths(leaves.feature, leaves.lower, leaves.upper, leaves.missing_follows,
                     leaves.valid & (leaves.feature == column), leaves.value, leaves.tree)
