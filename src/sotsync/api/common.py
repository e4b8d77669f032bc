"""Loading ledgers the way every verb does: which ones, from where, with which rules.

Part of the api layer: it never prints, exits or reads argv.
"""

from __future__ import annotations

from collections.abc import Sequence

from sotsync import fsio, gitrepo
from sotsync.config import Config, LedgerSpec, Workspace, resolve_ledgers
from sotsync.errors import ConfigError, LedgerError
from sotsync.ledger.parse import Ledger, parse_ledger

BINARY_SNIFF = 8000


# --------------------------------------------------------------------------- loading


def ledger_specs(config: Config, selectors: Sequence[str]) -> tuple[LedgerSpec, ...]:
    """The ledgers to work on; with zero config, default ledgers that do not exist are skipped."""
    specs = resolve_ledgers(config, selectors)
    root = config.workspace.root
    # A config file that only sets other keys still leaves the ledger list at its defaults.
    configured = "ledgers" in config.settings
    origin = config.source_name if configured else "defaults"
    if selectors or configured:
        for spec in specs:
            if not (root / spec.path).exists():
                raise LedgerError(
                    f"ledger '{spec.name}' ({spec.path}, from {origin}) does not exist",
                    hint="create it with `sotsync init` or correct its path in the configuration",
                )
        return specs
    present = tuple(s for s in specs if (root / s.path).exists())
    if not present:
        raise ConfigError(
            f"no ledgers found in {root} (looked for " + ", ".join(s.path for s in specs) + ")",
            hint="run `sotsync init` to create them, or configure [tool.sotsync] ledgers",
        )
    return present


def load_ledger(ws: Workspace, spec: LedgerSpec) -> Ledger:
    """Read and parse one ledger; binary files are refused with a clear error."""
    data = fsio.read_ledger_bytes(ws.root / spec.path, spec.path)
    nul = data.find(b"\0", 0, BINARY_SNIFF)
    if nul >= 0:
        raise LedgerError(
            f"{spec.path} looks like a binary file (NUL byte at offset {nul}), not a ledger",
            hint="point the ledger configuration at the Markdown file",
        )
    return parse_ledger(data, spec.path, spec.prefix)


def _eol_rules(ws: Workspace, specs: Sequence[LedgerSpec]) -> dict[str, str | None]:
    if ws.git_root is None:
        return {}
    return gitrepo.eol_attribute(ws, [s.path for s in specs])
