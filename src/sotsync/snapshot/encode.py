"""The snapshot format's bytes: values, rows, chunks and schemas, deterministic on both engines.

This module owns how a table becomes bytes, so that the same data always gives the same blobs.  It
is pure (no database, no git): the caller hands it rows in primary-key order.

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

Chunking is content-defined on the primary key: a row closes its chunk when the first 4 bytes of
the sha256 of its encoded key, as an integer, are below ``2**32 / CHUNK_ROWS`` (so chunks hold
``CHUNK_ROWS`` rows on average), or when the chunk reaches ``MAX_CHUNK_ROWS``.  Because a boundary
depends only on the key of the row at it, inserting or deleting a row changes the one chunk it
falls in and no other; changing a row changes one chunk.  Chunking by row position would instead
rewrite every chunk after an insert.  Tables without a primary key use the whole row as the key.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
import math
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sotsync.errors import SotsyncError

FORMAT_VERSION = 1
CHUNK_ROWS = 256
MAX_CHUNK_ROWS = 4 * 1024
_BOUNDARY = (1 << 32) // CHUNK_ROWS


@dataclass(frozen=True)
class Chunk:
    """One chunk of a table: its bytes, row count and sha256 (hex)."""

    data: bytes
    rows: int
    sha256: str


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


def encode_row(row: Sequence[Any]) -> bytes:
    """One JSON Lines record for *row*."""
    values = [encode_value(v) for v in row]
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8") + b"\n"


def is_boundary(key_line: bytes) -> bool:
    """Whether the row whose encoded key is *key_line* closes its chunk."""
    digest = hashlib.sha256(key_line).digest()
    return int.from_bytes(digest[:4], "big") < _BOUNDARY


def chunk_rows(rows: Iterable[Sequence[Any]], key_positions: Sequence[int]) -> Iterator[Chunk]:
    """Encode *rows* (already in key order) and cut them into content-defined chunks."""
    parts: list[bytes] = []
    for row in rows:
        line = encode_row(row)
        parts.append(line)
        key = encode_row([row[i] for i in key_positions]) if key_positions else line
        if is_boundary(key) or len(parts) >= MAX_CHUNK_ROWS:
            yield _chunk(parts)
            parts = []
    if parts:
        yield _chunk(parts)


def _chunk(parts: list[bytes]) -> Chunk:
    data = b"".join(parts)
    return Chunk(data, len(parts), hashlib.sha256(data).hexdigest())


def canonical_json(value: Any) -> bytes:
    """Sorted, indented JSON with a final newline: the form of schema.json and MANIFEST.json."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1, allow_nan=False)
    return text.encode("utf-8") + b"\n"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
