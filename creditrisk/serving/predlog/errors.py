"""What goes wrong with the prediction log, as values the API and the drift stage can act on."""

from __future__ import annotations


class PredictionLogError(RuntimeError):
    """The log named by `target` cannot be used for `reason` (a subclass says whether to write or to read)."""

    action = "used"

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"the prediction log {target} cannot be {self.action}: {reason}")
        self.target = target
        self.reason = reason


class PredictionLogUnavailable(PredictionLogError):
    """The log cannot take a batch now (database down, disk full, file read-only): nothing was logged."""

    action = "written"


class PredictionLogUnreadable(PredictionLogError):
    """The log exists (or a database is named) but cannot be read: server down, file damaged."""

    action = "read"
