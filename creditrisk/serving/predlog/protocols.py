"""What a writer and a reader of the prediction log are, whichever database holds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from creditrisk.serving.predlog.records import LoggedBatch


class LogWriter(Protocol):
    """Appends one scored batch per call, all its rows or none; returns once they are committed."""

    def append(self, batch: LoggedBatch) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class LogActivity:
    """Counts the database computes: all rows, the latest logging time, rows per UTC day since a day."""

    total_rows: int
    last_logged_at: str | None
    daily: pd.DataFrame
    model_versions: list[str] = field(default_factory=list)


class LogReader(Protocol):
    """Reads a prediction log, whichever database holds it; every method reads only what it returns."""

    def count(self) -> int: ...

    def loan_date_bounds(self) -> tuple[pd.Timestamp, pd.Timestamp] | None: ...

    def read_window(self, start: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame: ...

    def read(self, since: str | None = None) -> pd.DataFrame: ...

    def activity(self, since_day: str) -> LogActivity: ...
