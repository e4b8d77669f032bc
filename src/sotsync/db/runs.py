"""Reading the run table and ``sot_links``: streamed, with configured names quoted.

A million runs must not sit in memory at once, so ``read_runs`` yields rows in batches.  A
missing run table is a clear ``DatabaseError`` naming the table and the database.
"""

from __future__ import annotations

from collections.abc import Iterator

from sotsync.db import Backend, quote
from sotsync.db.schema import LINKS
from sotsync.errors import DatabaseError
from sotsync.models import Run
from sotsync.runsettings import RunSettings


def check_runs_table(db: Backend, settings: RunSettings) -> None:
    """Refuse early, with names, when the run table or one of its columns is missing."""
    table = settings.runs_table
    if table not in db.tables():
        raise DatabaseError(
            f"no table {table!r} in {db.url}",
            hint="point DATABASE_URL at the Autopack database, or set [tool.sotsync.runs] table",
        )
    have = set(db.columns(table))
    for column in (settings.id_column, settings.state_column, settings.created_column):
        if column not in have:
            raise DatabaseError(
                f"table {table!r} in {db.url} has no column {column!r}",
                hint="set the column names in [tool.sotsync.runs]",
            )


def read_runs(db: Backend, settings: RunSettings) -> Iterator[Run]:
    """Every run's id, state and creation time, streamed."""
    sql = (
        f"SELECT {quote(settings.id_column)}, {quote(settings.state_column)}, "
        f"{quote(settings.created_column)} FROM {quote(settings.runs_table)}"
    )
    states: dict[object, str] = {}  # a handful of states over millions of rows: share them
    for run_id, state, created in db.iterate(sql):
        shared = states.get(state)
        if shared is None:
            shared = states[state] = str(state or "")
        yield Run(str(run_id), shared, created)


def read_links(db: Backend, project_id: str) -> list[tuple[str, str, int, str]]:
    """(file type, entry id, occurrence, run id) rows of ``sot_links`` for the project."""
    if LINKS not in db.tables():
        return []
    rows = db.query(
        f"SELECT file_type, entry_id, occurrence, run_id FROM {LINKS} WHERE project_id = ?",
        (project_id,),
    )
    return [(r[0], r[1], int(r[2]), str(r[3])) for r in rows]
