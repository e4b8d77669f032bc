"""The snapshot format's bytes: values, rows, chunks and schemas, deterministic on both engines.

This module owns how a table becomes bytes, so that the same data always gives the same blobs.  It
is pure (no database, no git): the caller hands it rows, or rows already encoded, in key order.

Rows are JSON Lines: one compact JSON array per row, UTF-8, ``\\n``-terminated, values in the
column order of the schema.  Values:

- ``None`` → ``null``; ``bool`` → ``true``/``false``; ``int`` → a JSON integer;
- ``str`` → a JSON string (non-ASCII kept as UTF-8, not escaped);
- a finite ``float`` → a JSON number written by ``repr`` (``1.0`` stays ``1.0``, so it is told
  apart from the integer ``1``); NaN and ±infinity → ``{"$float": "nan" | "inf" | "-inf"}``;
- anything else is an object with one ``$``-marked key, which a row value of the other kinds can
  never be: ``{"$bytes": base64}``, ``{"$datetime": iso}``, ``{"$date": iso}``, ``{"$time": iso}``,
  ``{"$decimal": str}``, ``{"$uuid": str}``, ``{"$interval": seconds}``, ``{"$json": value}``
  (PostgreSQL json/jsonb).  A type outside this list is refused rather than guessed at.

The row bytes are the same in both format versions.  SQLite rows made only of NULL, INTEGER and
TEXT values may be encoded by SQLite's ``json_array`` instead of ``encode_line``: the two give the
same bytes (``tests/test_snapshot_encode.py`` proves it on generated values), and REAL and BLOB
values, where they would differ, always go through ``encode_line``.

Chunking (format 2) is content-defined on the primary key: a row closes its chunk when the CRC-32
of its encoded key (``key_text``) is below ``2**32 / CHUNK_ROWS`` (so chunks hold ``CHUNK_ROWS``
rows on average), or when the chunk reaches ``MAX_CHUNK_ROWS``; it also closes its *group* when
the CRC is below ``2**32 / (CHUNK_ROWS * GROUP_CHUNKS)`` or the group reaches
``MAX_GROUP_CHUNKS`` chunks.  Because a boundary depends only on the key of the row at it,
inserting or deleting a row changes the one chunk it falls in and no other; changing a row
changes one chunk, one group tree and the trees above it.  Small chunks keep what a few scattered
changes rewrite small; groups (one git tree each) keep the trees that name the chunks small too.
Chunking by row position would instead rewrite every chunk after an insert.  Tables without a
primary key use the whole row as the key.  Format 1 cut chunks of 256 rows on average by the
sha256 of the key, in one flat tree; it is still read (the reader never needs the boundary rule).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
import math
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sotsync.errors import SotsyncError

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
CHUNK_ROWS = 32
MAX_CHUNK_ROWS = 1024
GROUP_CHUNKS = 64
MAX_GROUP_CHUNKS = 1024
_BOUNDARY = (1 << 32) // CHUNK_ROWS
_GROUP_BOUNDARY = (1 << 32) // (CHUNK_ROWS * GROUP_CHUNKS)

# A batch of encoded rows: (key texts, row texts), without line ends, in key order.
Batch = tuple[Sequence[str], Sequence[str]]


@dataclass(frozen=True)
class Chunk:
    """One chunk of a table: its bytes and row count; ``closes_group`` ends its group."""

    data: bytes
    rows: int
    closes_group: bool


def encode_value(value: Any) -> Any:
    """A JSON-ready form of one database value (see the module docstring)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$time": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, dt.timedelta):
        return {"$interval": value.total_seconds()}
    if isinstance(value, (dict, list)):
        return {"$json": value}
    raise SotsyncError(
        f"cannot encode a database value of type {type(value).__name__} in a snapshot",
        hint="report the column type; snapshots support the types listed in snapshot/encode.py",
    )


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def encode_line(row: Sequence[Any]) -> str:
    """One JSON Lines record for *row*, without its line end."""
    # Most values are text, integers and NULLs: they skip encode_value's dispatch.
    return _dumps([v if v is None or type(v) in _PLAIN else encode_value(v) for v in row])


_PLAIN = frozenset((str, int))


def encode_row(row: Sequence[Any]) -> bytes:
    """One JSON Lines record for *row*, as stored (UTF-8, ``\\n``-terminated)."""
    return encode_line(row).encode("utf-8") + b"\n"


def row_batches(
    rows: Iterable[Sequence[Any]], key_positions: Sequence[int], size: int = 4096
) -> Iterator[Batch]:
    """Encode database rows (in key order) into batches for ``chunk_batches``."""
    keys: list[str] = []
    lines: list[str] = []
    for row in rows:
        line = encode_line(row)
        lines.append(line)
        keys.append(encode_line([row[i] for i in key_positions]) if key_positions else line)
        if len(lines) >= size:
            yield keys, lines
            keys, lines = [], []
    if lines:
        yield keys, lines


def chunk_batches(batches: Iterable[Batch]) -> Iterator[Chunk]:
    """Cut encoded rows into content-defined chunks and groups (see the module docstring)."""
    crc = zlib.crc32
    pending: list[str] = []
    in_group = 0
    for keys, lines in batches:
        start = 0
        for i, key in enumerate(keys):
            mark = crc(key.encode("utf-8"))
            if mark < _BOUNDARY or len(pending) + i + 1 - start >= MAX_CHUNK_ROWS:
                pending += lines[start : i + 1]
                start = i + 1
                in_group += 1
                closes = mark < _GROUP_BOUNDARY or in_group >= MAX_GROUP_CHUNKS
                if closes:
                    in_group = 0
                yield _chunk(pending, closes)
                pending = []
        pending += lines[start:]
    if pending:
        yield _chunk(pending, True)


def _chunk(lines: list[str], closes_group: bool) -> Chunk:
    lines.append("")
    return Chunk("\n".join(lines).encode("utf-8"), len(lines) - 1, closes_group)


def canonical_json(value: Any) -> bytes:
    """Sorted, indented JSON with a final newline: the form of schema.json and MANIFEST.json."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1, allow_nan=False)
    return text.encode("utf-8") + b"\n"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
