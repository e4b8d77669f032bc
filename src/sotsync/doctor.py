"""The verdicts of ``sotsync doctor``: what one check found, and the rules that need no I/O.

The api layer gathers facts (files, git, the database, the disk) and hands them here; this
module turns them into ``Check`` values with a status and a hint.  The runbook's safe defaults
for Autopack's ``.env`` live here as plain functions of a mapping, so every rule is testable
without a file.  Nothing here prints, reads files or talks to a database.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

OK = "ok"
WARN = "warn"
FAIL = "fail"
STATUSES = (OK, WARN, FAIL)

API_HOST = "AUTOPACK_API_HOST"
API_KEY = "AUTOPACK_API_KEY"
DEBUG_MODE = "DEBUG_MODE"
# Any of these set to a true value says "non-local access is deliberate".
REMOTE_INTENT = ("AUTOPACK_ALLOW_REMOTE", "AUTOPACK_ALLOW_NON_LOCAL", "AUTOPACK_ALLOW_REMOTE_API")
ENV_KEYS = (API_HOST, API_KEY, DEBUG_MODE, *REMOTE_INTENT)
MIN_KEY_LENGTH = 32
_TRUE = frozenset({"1", "true", "yes", "on", "y"})
_WEAK_KEYS = frozenset(
    {"changeme", "change-me", "secret", "password", "admin", "test", "dev", "apikey", "api-key"}
)

SNAPSHOT_MAX_AGE = timedelta(days=7)
DISK_WARN_BYTES = 1 << 30  # 1 GiB: room for a snapshot, a backup and a restore scratch file
DISK_FAIL_BYTES = 100 << 20


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report; ``hint`` says what to do when it is not ok."""

    name: str
    status: str
    message: str
    hint: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "hint": self.hint,
        }


def ok(name: str, message: str) -> Check:
    return Check(name, OK, message)


def warn(name: str, message: str, hint: str) -> Check:
    return Check(name, WARN, message, hint)


def fail(name: str, message: str, hint: str) -> Check:
    return Check(name, FAIL, message, hint)


def summary(checks: Sequence[Check]) -> dict[str, int]:
    counts = Counter(c.status for c in checks)
    return {status: counts[status] for status in STATUSES}


def failed(checks: Sequence[Check]) -> bool:
    return any(c.status == FAIL for c in checks)


# --------------------------------------------------------------------------- .env safe defaults


def is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() in _TRUE


def is_loopback(host: str) -> bool:
    """``localhost``, ``127.x.y.z`` and ``::1`` only: ``0.0.0.0`` listens on every interface."""
    text = host.strip().strip("[]").lower()
    if text in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def check_api_host(env: Mapping[str, str]) -> Check:
    name = "env-api-host"
    host = env.get(API_HOST)
    if host is None or not host.strip():
        return ok(name, f"{API_HOST} not set (Autopack's loopback default)")
    if is_loopback(host):
        return ok(name, f"{API_HOST}={host.strip()} (loopback)")
    intent = [k for k in REMOTE_INTENT if is_true(env.get(k))]
    if intent:
        return ok(name, f"{API_HOST}={host.strip()}, non-local access deliberate ({intent[0]}=1)")
    return fail(
        name,
        f"{API_HOST}={host.strip()} exposes the API beyond this machine, and nothing says "
        "that is deliberate",
        f"set {API_HOST}=127.0.0.1, or add {REMOTE_INTENT[0]}=1 to .env if remote access "
        "is intended (behind a firewall or proxy)",
    )


def check_api_key(env: Mapping[str, str]) -> Check:
    name = "env-api-key"
    key = env.get(API_KEY)
    hint = (
        f"set {API_KEY} to a random value of at least {MIN_KEY_LENGTH} characters, e.g. "
        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
    )
    if key is None:
        return warn(name, f"{API_KEY} is not set: the API accepts unauthenticated calls", hint)
    value = key.strip()
    if not value:
        return fail(name, f"{API_KEY} is empty", hint)
    if len(value) < MIN_KEY_LENGTH:
        short = f"{API_KEY} is {len(value)} characters, fewer than {MIN_KEY_LENGTH}"
        return fail(name, short, hint)
    if value.lower() in _WEAK_KEYS or len(set(value)) < 8:
        return fail(name, f"{API_KEY} is a guessable value", hint)
    return ok(name, f"{API_KEY} set ({len(value)} characters)")


def check_debug_mode(env: Mapping[str, str]) -> Check:
    name = "env-debug-mode"
    value = env.get(DEBUG_MODE)
    if is_true(value):
        return fail(
            name,
            f"{DEBUG_MODE}={value} (tracebacks and internals in API responses)",
            f"set {DEBUG_MODE}=false (or remove it) outside development",
        )
    return ok(name, f"{DEBUG_MODE} off" if value is None else f"{DEBUG_MODE}={value} (off)")


def env_checks(env: Mapping[str, str]) -> list[Check]:
    return [check_api_host(env), check_api_key(env), check_debug_mode(env)]


# --------------------------------------------------------------------------- ages and space


def age_text(age: timedelta) -> str:
    """``3d 4h``, ``2h 5m``, ``40s``: an age an operator reads at a glance."""
    seconds = max(int(age.total_seconds()), 0)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def check_age(
    name: str, what: str, newest: datetime | None, now: datetime, max_age: timedelta, hint: str
) -> Check:
    if newest is None:
        return warn(name, f"no {what} yet", hint)
    age = now - newest
    stamp = newest.strftime("%Y-%m-%dT%H:%M:%SZ")
    if age > max_age:
        return warn(
            name, f"newest {what} is {age_text(age)} old ({stamp}), over {age_text(max_age)}", hint
        )
    return ok(name, f"newest {what} {stamp} ({age_text(age)} ago)")


def check_disk(free: int, total: int, where: str) -> Check:
    name = "disk"
    text = f"{free / (1 << 30):.1f} GiB free of {total / (1 << 30):.1f} GiB on {where}"
    hint = "free space: snapshots, backups and restores need room for a copy of the database"
    if free < DISK_FAIL_BYTES:
        return fail(name, text, hint)
    if free < DISK_WARN_BYTES:
        return warn(name, text, hint)
    return ok(name, text)
