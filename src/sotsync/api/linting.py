"""`lint`: findings, filtered by selection, baselines and `--new-since`.

Part of the api layer: it never prints, exits or reads argv.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sotsync import fsio, gitrepo
from sotsync.api.common import _eol_rules, ledger_specs, load_ledger
from sotsync.config import Config, LedgerSpec, Workspace
from sotsync.errors import ConfigError, UsageError
from sotsync.ledger.lint import BY_CODE, lint_ledger
from sotsync.ledger.parse import parse_ledger
from sotsync.models import Finding, severity_rank

BASELINE_VERSION = 1


@dataclass(frozen=True)
class LintReport:
    """Findings that remain after ``--select``/``--ignore``/baseline filtering."""

    findings: tuple[Finding, ...]
    ledgers: tuple[str, ...]
    suppressed: int

    def failing(self, fail_on: str) -> list[Finding]:
        if fail_on == "never":
            return []
        rank = severity_rank(fail_on)
        return [f for f in self.findings if severity_rank(f.severity) >= rank]


# --------------------------------------------------------------------------- lint


def lint(
    config: Config,
    selectors: Sequence[str] = (),
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    baseline: Path | None = None,
    new_since: str | None = None,
) -> LintReport:
    """Lint the chosen ledgers; keep only new findings when a baseline or revision is given."""
    ws = config.workspace
    _check_codes([*select, *ignore])
    specs = ledger_specs(config, selectors)
    eol = _eol_rules(ws, specs)
    findings: list[Finding] = []
    for spec in specs:
        ledger = load_ledger(ws, spec)
        found = lint_ledger(ledger, eol.get(spec.path), spec.order == "newest-first")
        if new_since is not None:
            found = _only_new(found, _findings_at(ws, spec, new_since, eol.get(spec.path)))
        findings.extend(found)
    total = len(findings)
    if baseline is not None:
        findings = _only_new(findings, read_baseline(baseline))
    findings = [f for f in findings if _selected(f.code, select, ignore)]
    suppressed = total - len(findings)
    return LintReport(tuple(findings), tuple(s.path for s in specs), suppressed)


def _check_codes(codes: Sequence[str]) -> None:
    for code in codes:
        if not any(known.startswith(code) for known in BY_CODE):
            raise UsageError(
                f"unknown finding code {code!r}",
                hint="codes are SOT001..SOT050; see `sotsync lint --help`",
            )


def _selected(code: str, select: Sequence[str], ignore: Sequence[str]) -> bool:
    if select and not any(code.startswith(s) for s in select):
        return False
    return not any(code.startswith(i) for i in ignore)


def _findings_at(ws: Workspace, spec: LedgerSpec, rev: str, eol: str | None) -> list[Finding]:
    data = gitrepo.read_blob(ws, rev, spec.path)
    if data is None:
        return []
    old = parse_ledger(data, spec.path, spec.prefix)
    return lint_ledger(old, eol, spec.order == "newest-first")


def _only_new(
    current: Sequence[Finding], accepted: Sequence[Finding] | Counter[str]
) -> list[Finding]:
    """Findings beyond those accepted, matched by fingerprint (code + id + text), as a multiset."""
    budget = (
        accepted if isinstance(accepted, Counter) else Counter(_baseline_key(f) for f in accepted)
    )
    fresh = []
    for finding in current:
        key = _baseline_key(finding)
        if budget[key] > 0:
            budget[key] -= 1
        else:
            fresh.append(finding)
    return fresh


def _baseline_key(finding: Finding) -> str:
    return f"{finding.path}\0{finding.fingerprint}"


def read_baseline(path: Path) -> Counter[str]:
    """The accepted findings of a baseline file written by ``write_baseline``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        items = raw["findings"]
        return Counter(f"{item['path']}\0{item['fingerprint']}" for item in items)
    except FileNotFoundError:
        raise ConfigError(
            f"baseline file not found: {path}",
            hint="create it with `sotsync lint --write-baseline FILE`",
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"baseline file {path} is not a sotsync baseline ({exc})",
            hint="rewrite it with `sotsync lint --write-baseline FILE`",
        ) from None


def write_baseline(report: LintReport, path: Path) -> int:
    """Record every finding of ``report`` as accepted; returns how many were written."""
    items = [
        {
            "path": f.path,
            "code": f.code,
            "entry_id": f.entry_id,
            "fingerprint": f.fingerprint,
            "message": f.message,
        }
        for f in report.findings
    ]
    text = (
        json.dumps({"version": BASELINE_VERSION, "findings": items}, indent=2, ensure_ascii=False)
        + "\n"
    )
    # A path that is not UTF-8 (an undecodable file name) holds lone surrogates: written as
    # JSON escapes (\udcff), they read back as the same str and the baseline still matches.
    fsio.atomic_write_bytes(path, text.encode("utf-8", "backslashreplace"), str(path))
    return len(items)
