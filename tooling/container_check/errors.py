"""The one error the container check raises."""

from __future__ import annotations


class CheckFailed(Exception):
    """A step of the check failed, or a definition cannot be read as Docker would; the message says what
    and where to look."""

    def __init__(self, message: str, recorded: bool = False) -> None:
        super().__init__(message)
        self.recorded = recorded  # already in the report's checks
