"""Allocate the next id and write a new entry (INDEX row + section) into a ledger's bytes.

Pure: the caller gathers the ids seen elsewhere (branches, remotes) and holds the workspace lock.
The new lines use the file's own line endings and its entry heading level; cells escape ``|``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sotsync.errors import LedgerError, UsageError
from sotsync.ledger.fix import escape_cell, refresh_counts
from sotsync.ledger.parse import Ledger, id_pattern, parse_ledger, render_lines, strip_eol


def highest_number(prefix: str, texts: Iterable[str]) -> int:
    """The highest main id number (``BUILD-170.10`` counts as 170) mentioned in ``texts`` ids."""
    pattern = id_pattern(prefix)
    best = 0
    for text in texts:
        match = pattern.fullmatch(text)
        if match:
            best = max(best, int(match.group(1).split(".")[0]))
    return best


def next_id(prefix: str, *id_sets: Iterable[str]) -> str:
    """1 + the highest id in any of ``id_sets`` (work tree, branches, remotes, reservation)."""
    best = max((highest_number(prefix, ids) for ids in id_sets), default=0)
    return f"{prefix}-{best + 1:03d}"


def add_entry(
    ledger: Ledger,
    new_id: str,
    title: str,
    date: str,
    fields: Sequence[tuple[str, str]] = (),
    newest_first: bool = True,
    marker: str | None = None,
) -> bytes:
    """The ledger's bytes with ``new_id`` added as an INDEX row and an entry section.

    ``marker`` (an HTML comment such as ``<!-- sotsync:generated ... -->``) goes below the
    heading of entries that sotsync writes on its own.
    """
    if ledger.decode_error is not None:
        raise LedgerError(
            f"{ledger.path} is not valid UTF-8; refusing to add an entry",
            hint="run `sotsync lint` to find the bad bytes",
        )
    if ledger.index_table is None or ledger.columns is None:
        raise LedgerError(
            f"{ledger.path} has no INDEX table to add a row to",
            hint="add a `## INDEX` table or recreate the ledger with `sotsync init`",
        )
    if not title.strip():
        raise UsageError("the title must not be empty", hint="pass --title 'what was done'")
    newline = ledger.newline
    lines = list(ledger.lines)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    section = _section(ledger, new_id, title, date, fields, newline, marker)
    section_at = _section_position(ledger, newest_first)
    if section_at >= len(lines) and lines and strip_eol(lines[-1]).strip():
        section = [newline, *section]
    lines[section_at:section_at] = section
    row_at = _row_position(ledger, newest_first)
    lines.insert(row_at, _row(ledger, new_id, title, date, fields) + newline)
    data = refresh_counts(render_lines(lines, ledger.bom), ledger.path, ledger.prefix)
    check = parse_ledger(data, ledger.path, ledger.prefix)
    if new_id not in {e.id for e in check.entries}:
        raise LedgerError(
            f"{ledger.path}: the new section for {new_id} would not be recognised",
            hint="check the ledger for an unclosed code fence (`sotsync lint`)",
        )
    return data


def _row(
    ledger: Ledger, new_id: str, title: str, date: str, fields: Sequence[tuple[str, str]]
) -> str:
    columns = ledger.columns
    assert columns is not None and ledger.index_table is not None
    header = [h.lower() for h in _header_cells(ledger)]
    cells = [""] * columns.count
    # The id goes last: a narrow header may give the title (or date) the id's column.
    cells[columns.title] = escape_cell(title)
    cells[columns.date] = date
    cells[columns.id] = new_id
    for key, value in fields:
        for i, name in enumerate(header):
            if i not in (columns.date, columns.id, columns.title) and name == key.lower():
                cells[i] = escape_cell(value)
    return "| " + " | ".join(cells) + " |"


def _header_cells(ledger: Ledger) -> list[str]:
    from sotsync.ledger.parse import split_cells

    assert ledger.index_table is not None
    return split_cells(strip_eol(ledger.lines[ledger.index_table.rows[0]]))


def _row_position(ledger: Ledger, newest_first: bool) -> int:
    table = ledger.index_table
    assert table is not None
    if newest_first:
        return table.rows[0] + 2  # after the header and its delimiter row
    last = max((r.line for r in ledger.table_rows), default=table.rows[0] + 1)
    return last + 1


def _section_position(ledger: Ledger, newest_first: bool) -> int:
    if ledger.entries:
        if newest_first:
            return ledger.entries[0].line
        return ledger.entries[-1].end
    table = ledger.index_table
    assert table is not None
    after_index = [b for b in ledger.section_breaks if b > table.start]
    if after_index:
        # The entries section heading (``## BUILDS ...``): write just below it and a blank line.
        heading = after_index[0]
        position = heading + 1
        while position < len(ledger.lines) and not strip_eol(ledger.lines[position]).strip():
            position += 1
        return position
    return len(ledger.lines)


def _section(
    ledger: Ledger,
    new_id: str,
    title: str,
    date: str,
    fields: Sequence[tuple[str, str]],
    newline: str,
    marker: str | None = None,
) -> list[str]:
    level = ledger.entries[0].level if ledger.entries else 3
    heading = "#" * level + f" {new_id} | {date} | {escape_cell(title)}"
    body = [heading + newline, newline]
    if marker is not None:
        body += [marker + newline, newline]
    for key, value in fields:
        body.append(f"**{key}**: {' '.join(value.split())}" + newline)
    if fields:
        body.append(newline)
    return body
