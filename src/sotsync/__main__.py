"""Entry point of the ``sotsync`` console script and of ``python -m sotsync``.

``--version`` is answered before click and the rest of sotsync are imported, so that the most
frequent trivial calls (and git hooks that check for the tool) start as fast as Python itself.
"""

from __future__ import annotations

import sys


def main() -> int:
    args = sys.argv[1:]
    if args == ["--version"]:
        from sotsync import __version__

        sys.stdout.write(f"sotsync, version {__version__}\n")
        return 0
    if args[:1] == ["hook"]:
        # Git hooks run at every commit: skip click (see sotsync.hooks).
        from sotsync.hooks import main as hook_main

        return hook_main(args[1:])
    from sotsync.cli import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
