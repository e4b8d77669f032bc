"""Workspace discovery and configuration (SPEC §1).

This module owns finding the workspace (the git work tree, worktrees included, or ``--repo``),
reading and validating ``.sotsync.toml`` / ``[tool.sotsync]``, resolving ledger selectors, the
device name and the database URL, reading the workspace ``.env``, redacting URLs, and writing the
ledger list back as configuration.  It must stay cheap to import (hooks start a fresh interpreter
at every commit): no subprocess on the discovery path, ``tomllib`` and ``json`` imported only when
a file needs them, never click.  It does not check that configured ledger files exist (commands
report that) and does not open databases.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sotsync.errors import ConfigError, WorkspaceError

FileType = Literal["build_history", "debug_log", "architecture"]
Order = Literal["newest-first", "oldest-first"]

FILE_TYPES: tuple[FileType, ...] = ("build_history", "debug_log", "architecture")
ORDERS: tuple[Order, ...] = ("newest-first", "oldest-first")
CONFIG_FILE = ".sotsync.toml"
PYPROJECT_FILE = "pyproject.toml"
DEFAULT_DATABASE_URL = "sqlite:///./autopack.db"

# Patterns are strings, compiled (and cached by ``re``) on first use: cheaper imports for hooks.
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"
PREFIX_PATTERN = r"[A-Z][A-Z0-9_]*"
DEVICE_PATTERN = r"[A-Za-z0-9._-]+"
_LEDGER_KEYS = ("name", "path", "prefix", "file_type", "order")


@dataclass(frozen=True)
class LedgerSpec:
    """One configured ledger; ``path`` is POSIX and relative to the workspace root."""

    name: str
    path: str
    prefix: str
    file_type: FileType
    order: Order = "newest-first"


DEFAULT_LEDGERS: tuple[LedgerSpec, ...] = (
    LedgerSpec("build", "docs/BUILD_HISTORY.md", "BUILD", "build_history"),
    LedgerSpec("debug", "docs/DEBUG_LOG.md", "DBG", "debug_log"),
    LedgerSpec("decisions", "docs/ARCHITECTURE_DECISIONS.md", "DEC", "architecture"),
)

# Ad-hoc ledgers (a path that is not configured): well-known file names and prefixes.
_KNOWN_STEMS: dict[str, tuple[str, FileType]] = {
    "BUILD_HISTORY": ("BUILD", "build_history"),
    "DEBUG_LOG": ("DBG", "debug_log"),
    "ARCHITECTURE_DECISIONS": ("DEC", "architecture"),
}
_KNOWN_PREFIXES: dict[str, FileType] = {
    "BUILD": "build_history",
    "DBG": "debug_log",
    "DEC": "architecture",
}
_ID_ROW_OR_HEADING = (
    rb"(?m)^(?:\|[ \t]*\d{4}-\d{2}-\d{2}[^|\r\n]*\|[ \t]*|#{1,6}[ \t]+)([A-Z][A-Z0-9_]*)-\d+"
)
_PREFIX_SNIFF_BYTES = 1 << 20


@dataclass(frozen=True)
class Workspace:
    """Where sotsync works: ``root`` holds the config and ledgers; the git fields may be None."""

    root: Path
    git_root: Path | None
    git_dir: Path | None
    git_common_dir: Path | None


@dataclass(frozen=True)
class Config:
    """The validated configuration; ``settings`` is the raw table, for later features."""

    workspace: Workspace
    ledgers: tuple[LedgerSpec, ...]
    source: Path | None
    device: str | None
    database_url: str | None
    settings: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def source_name(self) -> str:
        """How the configuration's origin is named in messages."""
        if self.source is None:
            return "defaults"
        if self.source.name == PYPROJECT_FILE:
            return f"{PYPROJECT_FILE} [tool.sotsync]"
        return self.source.name


# --------------------------------------------------------------------------- workspace discovery


def _read_small_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"cannot read {path}: {exc}") from None


def _git_dirs(top: Path) -> tuple[Path, Path] | None:
    """(git dir, common dir) of the work tree whose top level is *top*, or None."""
    dotgit = top / ".git"
    if dotgit.is_dir():
        if not (dotgit / "HEAD").exists():
            return None  # not a repository (git skips it too)
        git_dir = dotgit
    elif dotgit.is_file():
        text = _read_small_text(dotgit)
        if not text.startswith("gitdir:"):
            raise WorkspaceError(
                f"{dotgit} is not a valid gitdir file",
                hint="it should contain one line `gitdir: <path>`",
            )
        pointed = Path(text[len("gitdir:") :].strip())
        git_dir = (pointed if pointed.is_absolute() else top / pointed).resolve()
        if not git_dir.is_dir():
            raise WorkspaceError(
                f"{dotgit} points to {git_dir}, which does not exist",
                hint="the worktree was probably removed; run `git worktree prune`",
            )
    else:
        return None
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.is_file():
        pointed = Path(_read_small_text(commondir))
        common = (pointed if pointed.is_absolute() else git_dir / pointed).resolve()
    return git_dir, common


def _enclosing_git(start: Path) -> tuple[Path, Path, Path] | None:
    for directory in (start, *start.parents):
        found = _git_dirs(directory)
        if found is not None:
            return directory, found[0], found[1]
    return None


def find_workspace(repo: Path | None = None, cwd: Path | None = None) -> Workspace:
    """Locate the workspace: *repo* if given, else the git top level containing *cwd*."""
    base = (cwd if cwd is not None else Path.cwd()).resolve()
    if repo is not None:
        candidate = repo if repo.is_absolute() else base / repo
        if not candidate.exists():
            raise WorkspaceError(
                f"--repo {repo}: no such directory",
                hint="pass the directory of the repository (or workspace) to work on",
            )
        if not candidate.is_dir():
            raise WorkspaceError(
                f"--repo {repo}: not a directory",
                hint="pass the directory of the repository (or workspace) to work on",
            )
        root = candidate.resolve()
        found = _enclosing_git(root)
        if found is None:
            return Workspace(root, None, None, None)
        return Workspace(root, *found)
    found = _enclosing_git(base)
    if found is None:
        raise WorkspaceError(f"not a git repository (or any parent directory): {base}")
    return Workspace(found[0], *found)


# --------------------------------------------------------------------------- configuration files


def _parse_toml(path: Path, display: str) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError(f"{display} is a directory, not a configuration file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {display}: {exc.strerror or exc}") from None
    return _parse_toml_bytes(raw, display)


def _parse_toml_bytes(raw: bytes, display: str) -> dict[str, Any]:
    import tomllib

    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{display}: not valid UTF-8 (byte offset {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{display}: invalid TOML: {exc}", hint=f"fix the syntax of {display}"
        ) from None


def _pyproject_table(
    ws: Workspace, raw: bytes | None = None
) -> tuple[dict[str, Any] | None, bytes | None]:
    """The ``[tool.sotsync]`` table of pyproject.toml (None when absent) and the file's bytes."""
    path = ws.root / PYPROJECT_FILE
    if raw is None:
        if not path.is_file():
            return None, None
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {PYPROJECT_FILE}: {exc.strerror or exc}") from None
    # Fast path for hooks: a pyproject.toml that never mentions sotsync is not parsed.
    if b"sotsync" not in raw:
        return None, raw
    data = _parse_toml_bytes(raw, PYPROJECT_FILE)
    tool = data.get("tool")
    if not isinstance(tool, dict) or "sotsync" not in tool:
        return None, raw
    table = tool["sotsync"]
    if not isinstance(table, dict):
        raise ConfigError(f"{PYPROJECT_FILE}: tool.sotsync: must be a table ([tool.sotsync])")
    return table, raw


def load_config(ws: Workspace) -> Config:
    """Read and validate the workspace configuration; no configuration gives the defaults."""
    own = ws.root / CONFIG_FILE
    if own.exists():
        table = _parse_toml(own, CONFIG_FILE)
        return _config_from_table(ws, table, own, CONFIG_FILE, "")
    table_or_none, _ = _pyproject_table(ws)
    if table_or_none is None:
        return Config(ws, DEFAULT_LEDGERS, None, None, None, {})
    return _config_from_table(
        ws, table_or_none, ws.root / PYPROJECT_FILE, PYPROJECT_FILE, "tool.sotsync."
    )


def _bad(display: str, key: str, problem: str) -> ConfigError:
    return ConfigError(
        f"{display}: {key}: {problem}", hint=f"fix {key} in {display} (see the README)"
    )


def _string(display: str, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise _bad(display, key, f"must be a string, not {type(value).__name__}")
    return value


def _normalise_ledger_path(display: str, key: str, value: str) -> str:
    posix = value.replace("\\", "/")
    if not posix.strip():
        raise _bad(display, key, "must not be empty")
    if posix.startswith("/") or re.match(r"[A-Za-z]:", posix):
        raise _bad(display, key, f"{value!r} must be relative to the workspace root")
    parts: list[str] = []
    for part in posix.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise _bad(display, key, f"{value!r} escapes the workspace root")
            parts.pop()
        else:
            parts.append(part)
    if not parts:
        raise _bad(display, key, f"{value!r} is not a file path")
    return "/".join(parts)


def _ledger_from_table(display: str, key: str, item: object) -> LedgerSpec:
    if not isinstance(item, dict):
        raise _bad(display, key, "must be a table with name, path, prefix and file_type")
    unknown = sorted(set(item) - set(_LEDGER_KEYS))
    if unknown:
        raise _bad(
            display,
            f"{key}.{unknown[0]}",
            f"unknown key (known: {', '.join(_LEDGER_KEYS)})",
        )
    for required in ("name", "path", "prefix", "file_type"):
        if required not in item:
            raise _bad(display, key, f"missing key {required!r}")
    name = _string(display, f"{key}.name", item["name"])
    if not re.fullmatch(NAME_PATTERN, name):
        raise _bad(
            display,
            f"{key}.name",
            f"{name!r} is not a valid name (letters, digits, '.', '_', '-')",
        )
    path = _normalise_ledger_path(
        display, f"{key}.path", _string(display, f"{key}.path", item["path"])
    )
    prefix = _string(display, f"{key}.prefix", item["prefix"])
    if not re.fullmatch(PREFIX_PATTERN, prefix):
        raise _bad(display, f"{key}.prefix", f"{prefix!r} does not match [A-Z][A-Z0-9_]*")
    file_type = _string(display, f"{key}.file_type", item["file_type"])
    if file_type not in FILE_TYPES:
        raise _bad(
            display,
            f"{key}.file_type",
            f"unknown file type {file_type!r} (expected one of: {', '.join(FILE_TYPES)})",
        )
    order = _string(display, f"{key}.order", item.get("order", "newest-first"))
    if order not in ORDERS:
        raise _bad(
            display,
            f"{key}.order",
            f"unknown order {order!r} (expected one of: {', '.join(ORDERS)})",
        )
    return LedgerSpec(name, path, prefix, file_type, order)


def _ledgers_from_value(display: str, prefix: str, value: object) -> tuple[LedgerSpec, ...]:
    key = f"{prefix}ledgers"
    if not isinstance(value, list):
        raise _bad(display, key, f"must be an array of tables ([[{key}]])")
    if not value:
        raise _bad(display, key, "must list at least one ledger")
    ledgers: list[LedgerSpec] = []
    names: dict[str, int] = {}
    paths: dict[str, int] = {}
    for index, item in enumerate(value):
        item_key = f"{key}[{index}]"
        spec = _ledger_from_table(display, item_key, item)
        if spec.name in names:
            raise _bad(
                display,
                f"{item_key}.name",
                f"duplicate ledger name {spec.name!r} (also {key}[{names[spec.name]}])",
            )
        if spec.path in paths:
            raise _bad(
                display,
                f"{item_key}.path",
                f"duplicate ledger path {spec.path!r} (also {key}[{paths[spec.path]}])",
            )
        names[spec.name] = index
        paths[spec.path] = index
        ledgers.append(spec)
    return tuple(ledgers)


def _config_from_table(
    ws: Workspace, table: dict[str, Any], source: Path, display: str, prefix: str
) -> Config:
    ledgers = (
        _ledgers_from_value(display, prefix, table["ledgers"])
        if "ledgers" in table
        else DEFAULT_LEDGERS
    )
    device: str | None = None
    if "device" in table:
        device = _string(display, f"{prefix}device", table["device"])
        if not re.fullmatch(DEVICE_PATTERN, device):
            raise _bad(
                display,
                f"{prefix}device",
                f"{device!r} is not a valid device name (letters, digits, '.', '_', '-')",
            )
    database_url: str | None = None
    if "database_url" in table:
        database_url = _string(display, f"{prefix}database_url", table["database_url"])
        if not database_url.strip():
            raise _bad(display, f"{prefix}database_url", "must not be empty")
    if "hooks_sync" in table and not isinstance(table["hooks_sync"], bool):
        kind = type(table["hooks_sync"]).__name__
        raise _bad(display, f"{prefix}hooks_sync", f"must be true or false, not {kind}")
    return Config(ws, ledgers, source, device, database_url, table)


# --------------------------------------------------------------------------- ledger selectors


def _relative_posix(path: Path, root: Path) -> str | None:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None


def _guess_prefix(path: Path, rel: str) -> tuple[str, FileType]:
    stem = path.stem.upper().replace("-", "_")
    if stem in _KNOWN_STEMS:
        return _KNOWN_STEMS[stem]
    try:
        with path.open("rb") as stream:
            head = stream.read(_PREFIX_SNIFF_BYTES)
    except OSError as exc:
        raise ConfigError(f"cannot read {rel}: {exc.strerror or exc}") from None
    match = re.search(_ID_ROW_OR_HEADING, head)
    if match is None:
        raise ConfigError(
            f"cannot tell the id prefix of {rel}: no `| date | PREFIX-NNN |` row"
            " and no `PREFIX-NNN` heading in it",
            hint="add the ledger to the configuration ([[tool.sotsync.ledgers]]) with its prefix",
        )
    prefix = match.group(1).decode("ascii")
    return prefix, _KNOWN_PREFIXES.get(prefix, "build_history")


def _match_selector(
    selector: str, config: Config, cwd: Path, by_path: Mapping[str, LedgerSpec]
) -> LedgerSpec:
    root = config.workspace.root
    given = Path(selector)
    candidates = [given] if given.is_absolute() else [cwd / given, root / given]
    for candidate in candidates:
        rel = _relative_posix(Path(os.path.normpath(candidate)), root)
        if rel is not None and rel in by_path:
            return by_path[rel]
        if candidate.exists():
            rel = _relative_posix(candidate.resolve(), root)
            if rel is not None and rel in by_path:
                return by_path[rel]
    for candidate in candidates:
        if candidate.is_dir():
            raise ConfigError(
                f"{selector} is a directory, not a ledger",
                hint="name a configured ledger or give the path of a Markdown file",
            )
        if not candidate.is_file():
            continue
        if candidate.suffix.lower() != ".md":
            raise ConfigError(
                f"{selector} is not a Markdown file (ledgers are .md files)",
                hint="name a configured ledger or give the path of a Markdown file",
            )
        resolved = candidate.resolve()
        rel = _relative_posix(resolved, root)
        if rel is None:
            raise ConfigError(
                f"{selector} is outside the workspace {root}",
                hint="run sotsync in the repository that holds the ledger, or pass --repo DIR",
            )
        prefix, file_type = _guess_prefix(resolved, rel)
        return LedgerSpec(rel, rel, prefix, file_type)
    known = ", ".join(spec.name for spec in config.ledgers)
    raise ConfigError(
        f"unknown ledger {selector!r} (known: {known})",
        hint="name a configured ledger, or give the path of an existing Markdown file",
    )


def resolve_ledgers(
    config: Config, selectors: Sequence[str], cwd: Path | None = None
) -> tuple[LedgerSpec, ...]:
    """The ledgers named by *selectors* (names or paths), in order, each once; empty: all.

    A path that is not configured but is an existing ``.md`` file in the workspace gives an
    ad-hoc ledger whose name is its path and whose prefix is guessed from the file.
    """
    if not selectors:
        return config.ledgers
    base = (cwd if cwd is not None else Path.cwd()).resolve()
    by_name = {spec.name: spec for spec in config.ledgers}
    by_path = {spec.path: spec for spec in config.ledgers}
    chosen: list[LedgerSpec] = []
    for selector in selectors:
        spec = by_name.get(selector) or _match_selector(selector, config, base, by_path)
        if spec not in chosen:
            chosen.append(spec)
    return tuple(chosen)


# --------------------------------------------------------------------------- device


def _default_hostname() -> str:
    import socket

    return socket.gethostname()


def resolve_device(
    cli_value: str | None,
    config: Config,
    env: Mapping[str, str] | None = None,
    hostname: Callable[[], str] | None = None,
) -> str:
    """The device name: --device, SOTSYNC_DEVICE, AUTOPACK_REGION, config, else the hostname."""
    environ = os.environ if env is None else env
    explicit = (
        ("--device", cli_value),
        ("SOTSYNC_DEVICE", environ.get("SOTSYNC_DEVICE")),
        ("AUTOPACK_REGION", environ.get("AUTOPACK_REGION")),
        (config.source_name, config.device),
    )
    for origin, value in explicit:
        if not value:
            continue
        if not re.fullmatch(DEVICE_PATTERN, value):
            raise ConfigError(
                f"invalid device name {value!r} (from {origin}):"
                " only letters, digits, '.', '_' and '-' are allowed",
                hint="choose a device name such as `laptop-1` or `eu-west.prod`",
            )
        return value
    name = re.sub(r"[^A-Za-z0-9._-]", "-", (hostname or _default_hostname)().strip())
    return name or "unknown-host"


# --------------------------------------------------------------------------- database URL


def _dotenv_value(raw: str) -> str:
    if raw[:1] == '"':
        out: list[str] = []
        index = 1
        escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
        while index < len(raw):
            char = raw[index]
            if char == "\\" and index + 1 < len(raw):
                nxt = raw[index + 1]
                out.append(escapes.get(nxt, "\\" + nxt))
                index += 2
                continue
            if char == '"':
                break
            out.append(char)
            index += 1
        return "".join(out)
    if raw[:1] == "'":
        end = raw.find("'", 1)
        return raw[1:] if end < 0 else raw[1:end]
    comment = re.search(r"\s#", raw)
    return (raw[: comment.start()] if comment else raw).strip()


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a ``.env`` file (``KEY=VALUE``, ``export``, quotes, comments); missing: empty."""
    try:
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return {}
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror or exc}",
            hint="check the file's permissions, or set DATABASE_URL in the environment",
        ) from None
    values: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export ") or stripped.startswith("export\t"):
            stripped = stripped[len("export") :].lstrip()
        key, sep, value = stripped.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            continue
        values[key] = _dotenv_value(value.strip())
    return values


def resolve_database_url(
    cli_value: str | None, config: Config, env: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """(URL, where it came from), first found: --database-url, SOTSYNC_DATABASE_URL,
    DATABASE_URL, DATABASE_URL in the workspace .env, config, the default."""
    environ = os.environ if env is None else env
    if cli_value:
        return cli_value, "--database-url"
    for name in ("SOTSYNC_DATABASE_URL", "DATABASE_URL"):
        value = environ.get(name)
        if value:
            return value, name
    from_file = read_dotenv(config.workspace.root / ".env").get("DATABASE_URL")
    if from_file:
        return from_file, "DATABASE_URL in .env"
    if config.database_url:
        return config.database_url, config.source_name
    return DEFAULT_DATABASE_URL, "default"


_QUERY_SECRET = r"(?i)((?:^|[?&\s])password=)[^&\s]*"


def redact_url(url: str) -> str:
    """*url* with its password replaced by ``***`` (userinfo and ``password=`` parameters)."""
    scheme_end = url.find("://")
    if scheme_end >= 0:
        start = scheme_end + 3
        # The authority ends at the query; the last '@' before it ends the userinfo, even
        # when an unescaped '@' or '/' sits inside the password.
        stop = len(url)
        for mark in ("?", "#"):
            found = url.find(mark, start)
            if found >= 0:
                stop = min(stop, found)
        at = url.rfind("@", start, stop)
        if at >= 0:
            colon = url.find(":", start, at)
            if colon >= 0:
                url = f"{url[: colon + 1]}***{url[at:]}"
    return re.sub(_QUERY_SECRET, r"\1***", url)


# --------------------------------------------------------------------------- writing config


def _toml_string(value: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n"}
    escapes.update({"\f": "\\f", "\r": "\\r"})
    out: list[str] = []
    for char in value:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _render_ledgers(ledgers: Sequence[LedgerSpec], table: str, newline: str) -> str:
    blocks: list[str] = []
    for spec in ledgers:
        lines = [f"[[{table}]]"]
        for key in _LEDGER_KEYS:
            lines.append(f"{key} = {_toml_string(getattr(spec, key))}")
        blocks.append(newline.join(lines) + newline)
    return newline.join(blocks)


def write_config(
    ws: Workspace,
    ledgers: Sequence[LedgerSpec],
    target: Literal["pyproject", "sotsync.toml"],
) -> Path:
    """Write *ledgers* as configuration and return the file written.

    ``pyproject`` appends a ``[tool.sotsync]`` section and leaves the rest of the file as it
    is; ``sotsync.toml`` writes ``.sotsync.toml``.  When the file already configures exactly
    these ledgers nothing is written; when it configures something else, ConfigError.
    """
    from sotsync.fsio import atomic_write_bytes

    wanted = tuple(ledgers)
    if target == "sotsync.toml":
        path = ws.root / CONFIG_FILE
        if path.exists():
            existing = _config_from_table(ws, _parse_toml(path, CONFIG_FILE), path, CONFIG_FILE, "")
            if existing.ledgers == wanted:
                return path
            raise ConfigError(
                f"{CONFIG_FILE} already exists and configures other ledgers",
                hint=f"edit {CONFIG_FILE} by hand, or remove it and run the command again",
            )
        text = "# sotsync configuration\n\n" + _render_ledgers(wanted, "ledgers", "\n")
        data = text.encode("utf-8")
        _check_written(ws, data, CONFIG_FILE, "", wanted)
        atomic_write_bytes(path, data, CONFIG_FILE)
        return path

    path = ws.root / PYPROJECT_FILE
    if (ws.root / CONFIG_FILE).exists():
        raise ConfigError(
            f"{CONFIG_FILE} exists and takes precedence over {PYPROJECT_FILE}",
            hint=f"write the configuration to {CONFIG_FILE}, or remove it first",
        )
    raw = b""
    if path.exists():
        table, read = _pyproject_table(ws)
        raw = read or b""
        if raw:
            _parse_toml_bytes(raw, PYPROJECT_FILE)  # refuse to append to a broken file
        if table is not None:
            existing = _config_from_table(ws, table, path, PYPROJECT_FILE, "tool.sotsync.")
            if existing.ledgers == wanted:
                return path
            raise ConfigError(
                f"{PYPROJECT_FILE} already has a [tool.sotsync] section",
                hint=f"edit [tool.sotsync] in {PYPROJECT_FILE} by hand",
            )
    newline = "\r\n" if b"\r\n" in raw else "\n"
    section = (
        f"[tool.sotsync]{newline}{newline}"
        + _render_ledgers(wanted, "tool.sotsync.ledgers", newline)
    ).encode("utf-8")
    if raw and not raw.endswith(b"\n"):
        raw += newline.encode()
    if raw:
        raw += newline.encode()
    data = raw + section
    _check_written(ws, data, PYPROJECT_FILE, "tool.sotsync.", wanted)
    atomic_write_bytes(path, data, PYPROJECT_FILE)
    return path


def _check_written(
    ws: Workspace, data: bytes, display: str, prefix: str, wanted: tuple[LedgerSpec, ...]
) -> None:
    # Re-read what is about to be written: validates the ledgers and catches a pyproject.toml
    # whose existing [tool] table cannot take a [tool.sotsync] section.
    try:
        parsed = _parse_toml_bytes(data, display)
    except ConfigError as exc:
        raise ConfigError(
            f"cannot add [tool.sotsync] to {display}: {exc.message}",
            hint="write the configuration to .sotsync.toml instead",
        ) from None
    table = parsed.get("tool", {}).get("sotsync", {}) if prefix else parsed
    written = _config_from_table(ws, table, ws.root / display, display, prefix)
    if written.ledgers != wanted:  # pragma: no cover - would be a rendering bug
        raise ConfigError(f"internal error: {display} would not round-trip the ledger list")


# --------------------------------------------------------------------------- single settings


def set_top_level(config: Config, key: str, value: str) -> tuple[Path, bool]:
    """Write ``key = "value"`` into the configuration unless the key is set already.

    Returns the file and whether it changed.  ``.sotsync.toml`` takes the key at the top;
    a ``[tool.sotsync]`` table in pyproject.toml takes it below its header; with no config yet,
    ``.sotsync.toml`` is created.  The result is parsed back before it is written.
    """
    from sotsync.fsio import atomic_write_bytes

    if key in config.settings:
        assert config.source is not None
        return config.source, False
    line = f"{key} = {_toml_string(value)}"
    root = config.workspace.root
    if config.source is not None and config.source.name == PYPROJECT_FILE:
        path = config.source
        text = path.read_text(encoding="utf-8")
        match = re.search(r"(?m)^\[tool\.sotsync\][ \t]*(?:#.*)?\r?\n", text)
        if match is None:
            raise ConfigError(
                f"{PYPROJECT_FILE}: cannot find the [tool.sotsync] header",
                hint=f"add `{line}` under [tool.sotsync] by hand",
            )
        newline = "\r\n" if match.group(0).endswith("\r\n") else "\n"
        updated = text[: match.end()] + line + newline + text[match.end() :]
        _parse_toml_bytes(updated.encode("utf-8"), PYPROJECT_FILE)
    else:
        path = root / CONFIG_FILE
        text = path.read_text(encoding="utf-8") if path.exists() else "# sotsync configuration\n"
        newline = "\r\n" if "\r\n" in text else "\n"
        first_table = re.search(r"(?m)^\[", text)
        at = first_table.start() if first_table else len(text)
        head = text[:at]
        if head and not head.endswith("\n"):
            head += newline
        updated = head + line + newline + (newline if first_table else "") + text[at:]
        _parse_toml_bytes(updated.encode("utf-8"), CONFIG_FILE)
    atomic_write_bytes(path, updated.encode("utf-8"), path.name)
    return path, True
