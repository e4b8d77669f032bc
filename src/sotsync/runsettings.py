"""How runs relate to ledger entries: the configuration of SPEC §3, validated once.

Reads ``project_id``, ``expect_since``, ``[runs]`` (table and column names), ``[expect]``
(run-state pattern → ledger name) and ``[[link_patterns]]`` (run-id regex → entry id) from the
``[tool.sotsync]`` table.  Identifiers are checked here so that no configured name reaches SQL
unchecked.  Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from sotsync.config import Config
from sotsync.errors import ConfigError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# The same on every clone, whatever its folder is called (Autopack writes "autopack").
DEFAULT_PROJECT_ID = "autopack"
DEFAULT_EXPECT = (("DONE_SUCCESS", "build"), ("DONE_FAILED_*", "debug"))
DEFAULT_LINKS = ((r"^build(\d+)", "BUILD-%03d"),)


@dataclass(frozen=True)
class LinkPattern:
    """A run id matching ``regex`` belongs to the entry ``template % int(group 1)``."""

    regex: re.Pattern[str]
    template: str

    def entry_for(self, run_id: str) -> str | None:
        match = self.regex.search(run_id)
        if match is None:
            return None
        return self.template % int(match.group(1))


@dataclass(frozen=True)
class RunSettings:
    """Everything reconcile needs to know about the run tables and the rules."""

    project_id: str
    runs_table: str
    id_column: str
    state_column: str
    created_column: str
    expect: tuple[tuple[str, str], ...]
    expect_since: datetime | None
    links: tuple[LinkPattern, ...]

    def expected_ledger(self, state: str) -> str | None:
        """The ledger name a run in ``state`` must have an entry in, if any."""
        for pattern, ledger in self.expect:
            if fnmatchcase(state, pattern):
                return ledger
        return None


def run_settings(config: Config) -> RunSettings:
    """Validated run settings of ``config`` (defaults for everything not configured)."""
    table: Mapping[str, Any] = config.settings
    where = config.source_name
    project = table.get("project_id", DEFAULT_PROJECT_ID)
    if not isinstance(project, str) or not project.strip():
        raise ConfigError(f"{where}: project_id must be a non-empty string")
    runs = table.get("runs", {})
    if not isinstance(runs, Mapping):
        raise ConfigError(f"{where}: [runs] must be a table")
    names = {
        key: runs.get(key, default)
        for key, default in (
            ("table", "runs"),
            ("id_column", "id"),
            ("state_column", "state"),
            ("created_column", "created_at"),
        )
    }
    for key, value in names.items():
        if not isinstance(value, str) or not _IDENT.fullmatch(value):
            raise ConfigError(
                f"{where}: runs.{key} = {value!r} is not a valid SQL identifier",
                hint="use letters, digits and _ only (the name is quoted, never interpolated)",
            )
    ledgers = {spec.name for spec in config.ledgers}
    expect = _expect(table.get("expect"), ledgers, where)
    return RunSettings(
        project_id=project,
        runs_table=names["table"],
        id_column=names["id_column"],
        state_column=names["state_column"],
        created_column=names["created_column"],
        expect=expect,
        expect_since=_since(table.get("expect_since"), where),
        links=_links(table.get("link_patterns"), where),
    )


def _expect(value: object, ledgers: set[str], where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return tuple((p, name) for p, name in DEFAULT_EXPECT if name in ledgers)
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: [expect] must map run-state patterns to ledger names")
    rules = []
    for pattern, name in value.items():
        if not isinstance(name, str) or name not in ledgers:
            raise ConfigError(
                f"{where}: expect.{pattern} names ledger {name!r}, which is not configured",
                hint="known ledgers: " + ", ".join(sorted(ledgers)),
            )
        rules.append((str(pattern), name))
    return tuple(rules)


def _since(value: object, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        parsed = parse_time(value)
        if parsed is not None:
            return parsed
    raise ConfigError(
        f"{where}: expect_since = {value!r} is not a UTC time",
        hint="write it like 2026-01-31T00:00:00Z",
    )


def _links(value: object, where: str) -> tuple[LinkPattern, ...]:
    items = DEFAULT_LINKS if value is None else value
    if not isinstance(items, list | tuple):
        raise ConfigError(f"{where}: link_patterns must be a list of {{pattern, entry}} tables")
    links = []
    for item in items:
        if isinstance(item, Mapping):
            pattern, template = item.get("pattern"), item.get("entry")
        else:
            pattern, template = item
        try:
            regex = re.compile(str(pattern))
            if regex.groups < 1:
                raise ValueError("needs one group for the number")
            str(template) % 1
        except (re.error, ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: link pattern {pattern!r} → {template!r}: {exc}") from None
        links.append(LinkPattern(regex, str(template)))
    return tuple(links)


def parse_time(value: object) -> datetime | None:
    """A UTC datetime from the forms found in real run tables (naive values are UTC)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
