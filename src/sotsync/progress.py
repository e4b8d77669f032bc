"""Progress reporting for long work (snapshot, restore, migrate, backup, large syncs).

Library code never prints (SPEC §8): it reports through a ``Progress`` object that the caller
passes in.  The CLI passes a terminal bar when stderr is a terminal; everything else gets
``NO_PROGRESS``, which does nothing, so that a missing bar can never change a result.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """A sink for progress: one ``stage`` at a time, advanced in units of work (rows, bytes)."""

    def stage(self, label: str, total: int | None) -> None:
        """Begin a new stage of ``total`` units (None when the size is not known)."""

    def advance(self, units: int) -> None:
        """Record ``units`` more units of the current stage as done."""

    def done(self) -> None:
        """End the current stage (and the display, if it is the last)."""


class NullProgress:
    """The progress sink for non-terminals, tests and library callers: does nothing."""

    def stage(self, label: str, total: int | None) -> None:
        return None

    def advance(self, units: int) -> None:
        return None

    def done(self) -> None:
        return None


NO_PROGRESS: Progress = NullProgress()
