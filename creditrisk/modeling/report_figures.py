"""The model report's figures: matplotlib drawn to SVG text that the HTML holds inline.

No pyplot (no global figure state, no display backend): each function builds a `Figure`, draws on it and
returns the SVG as text. The SVG is made byte-stable (a fixed id salt, no date) and stripped of what would
point outside the file (the XML prolog and doctype, the RDF metadata, the namespace attributes, which HTML
does not need for inline SVG), so a rebuilt report has the same bytes and names no address.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

RC = {"svg.hashsalt": "creditrisk-model-report", "svg.fonttype": "none", "font.size": 9,
      "font.family": "sans-serif", "axes.spines.top": False, "axes.spines.right": False}
COLOURS = {"model": "#1f5f99", "observed": "#c0392b", "reference": "#7f8c8d", "green": "#2e7d32",
           "yellow": "#f9a825", "red": "#c62828", None: "#9e9e9e"}
WIDTH, HEIGHT = 5.6, 3.2


def svg_text(figure: Figure) -> str:
    """The figure as inline SVG text, byte-stable and self-contained."""
    with matplotlib.rc_context(RC):
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.DOTALL)
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)


def _figure() -> tuple[Figure, Any]:
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=(WIDTH, HEIGHT))
        axes = figure.add_subplot()
    return figure, axes


def roc_figure(curve: pd.DataFrame, auc: float | None) -> str:
    """The out-of-time ROC curve beside the diagonal of a model without skill."""
    with matplotlib.rc_context(RC):
        figure, axes = _figure()
        axes.plot(curve["fpr"], curve["tpr"], color=COLOURS["model"],
                  label="model" + (f" (ROC-AUC {auc:.3f})" if auc is not None else ""))
        axes.plot([0, 1], [0, 1], color=COLOURS["reference"], linestyle="--", linewidth=0.8, label="no skill")
        axes.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1))
        axes.legend(loc="lower right", frameon=False)
        return svg_text(figure)


def calibration_figure(curve: Sequence[Mapping[str, float]]) -> str:
    """Observed default rate against mean PD per PD bin, with each bin's Wilson interval."""
    with matplotlib.rc_context(RC):
        figure, axes = _figure()
        mean_pd = np.array([point["mean_pd"] for point in curve])
        observed = np.array([point["observed_rate"] for point in curve])
        errors = np.array([[max(point["observed_rate"] - point["rate_lower"], 0.0) for point in curve],
                           [max(point["rate_upper"] - point["observed_rate"], 0.0) for point in curve]])
        top = float(max(mean_pd.max(initial=0.0), max((p["rate_upper"] for p in curve), default=0.0))) * 1.05 or 1.0
        axes.plot([0, top], [0, top], color=COLOURS["reference"], linestyle="--", linewidth=0.8, label="perfect")
        axes.errorbar(mean_pd, observed, yerr=errors, fmt="o", color=COLOURS["observed"], capsize=2,
                      label="observed (Wilson interval)")
        axes.set(xlabel="mean PD of the bin", ylabel="observed default rate", xlim=(0, top), ylim=(0, top))
        axes.legend(loc="upper left", frameon=False)
        return svg_text(figure)


def band_figure(bands: Sequence[Mapping[str, Any]], pairs: Sequence[Mapping[str, Any]]) -> str:
    """Observed default rate and mean PD per band, each pair's rank-ordering light drawn between its bands."""
    with matplotlib.rc_context(RC):
        figure, axes = _figure()
        names = [band["band"] for band in bands]
        positions = np.arange(len(names))
        axes.bar(positions - 0.2, [band["observed_rate"] for band in bands], width=0.4, color=COLOURS["observed"],
                 label="observed default rate")
        axes.bar(positions + 0.2, [band["mean_pd"] for band in bands], width=0.4, color=COLOURS["model"],
                 label="mean PD")
        top = max([band["observed_rate"] for band in bands] + [band["mean_pd"] for band in bands] + [0.0])
        for pair in pairs:
            if pair["lower"] in names and pair["higher"] in names:
                middle = (names.index(pair["lower"]) + names.index(pair["higher"])) / 2
                axes.plot([middle], [top * 1.08], marker="o", markersize=8, color=COLOURS[pair["light"]])
        axes.set_xticks(positions, names)
        axes.set(xlabel="risk band (dots: rank-ordering light of each adjacent pair)", ylabel="rate",
                 ylim=(0, top * 1.45 or 1.0))
        axes.legend(loc="upper left", frameon=False, ncols=2)
        return svg_text(figure)


def approval_figure(table: Mapping[str, Any], red_below: float) -> str:
    """Approval rate per group with its bootstrap interval, and the level the four-fifths convention sets
    (red_below x the most favoured group's rate)."""
    with matplotlib.rc_context(RC):
        figure, axes = _figure()
        rows = list(table["groups"])
        positions = np.arange(len(rows))
        rates = np.array([row["approval_rate"] for row in rows])
        colours = [COLOURS[row.get("air_light")] for row in rows]
        axes.bar(positions, rates, color=colours)
        lower = [row["approval_rate"] - row["approval_lower"] if row.get("approval_lower") is not None else 0.0
                 for row in rows]
        upper = [row["approval_upper"] - row["approval_rate"] if row.get("approval_upper") is not None else 0.0
                 for row in rows]
        axes.errorbar(positions, rates, yerr=[lower, upper], fmt="none", ecolor="black", capsize=3, linewidth=0.8)
        favoured = next((row for row in rows if row["group"] == table.get("favoured_group")), None)
        if favoured is not None:
            axes.axhline(red_below * favoured["approval_rate"], color=COLOURS["red"], linestyle="--", linewidth=0.8,
                         label=f"{red_below:g} x the most favoured group ({favoured['group']})")
            axes.legend(loc="upper left", frameon=False)
        axes.set_xticks(positions, [row["group"] for row in rows])
        axes.set(ylabel="approval rate at the threshold", ylim=(0, 1.2))
        return svg_text(figure)


def vintage_figure(vintages: pd.DataFrame) -> str:
    """Default rate by loan month with its Wilson interval; immature months hollow."""
    with matplotlib.rc_context(RC):
        figure, axes = _figure()
        positions = np.arange(len(vintages))
        mature = vintages["mature"].astype(bool).to_numpy()
        axes.fill_between(positions, vintages["rate_lower"], vintages["rate_upper"], color=COLOURS["model"],
                          alpha=0.15, linewidth=0)
        axes.plot(positions, vintages["default_rate"], color=COLOURS["model"], linewidth=1)
        axes.plot(positions[mature], vintages["default_rate"][mature], "o", color=COLOURS["model"], markersize=3,
                  label="mature month")
        if (~mature).any():
            axes.plot(positions[~mature], vintages["default_rate"][~mature], "o", markerfacecolor="white",
                      color=COLOURS["model"], markersize=3, label="immature month")
        step = max(1, len(vintages) // 6)
        axes.set_xticks(positions[::step], vintages["vintage"].astype(str).to_numpy()[::step])
        settled = vintages.loc[mature, "rate_upper"] if mature.any() else vintages["rate_upper"]
        axes.set_ylim(0, min(1.0, float(settled.max()) * 1.3))  # immature months' wide bands are cut off
        axes.set(ylabel="default rate", xlabel="loan month")
        axes.legend(loc="upper right", frameon=False)
        return svg_text(figure)
