"""`sotsync report --html`: a self-contained page whose figures match inspect and reconcile.

The browser test drives Debian's ``chromium`` over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: NUL-separated JSON on file descriptors 3 and 4), so it needs no
Python package and no browser download.  It fails, rather than skips, when ``CI=true`` and
chromium is missing.  The screenshot goes to ``tests/artifacts/report.png``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import GitRepo, Result
from sotsync.report import render_html

DEMO = Path(__file__).resolve().parents[1] / "examples" / "autopack-demo"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TIMEOUT_S = 30


# --------------------------------------------------------------------------- a tiny CDP client


class Browser:
    """Headless chromium on a DevTools pipe: open a page, collect its errors, evaluate, capture."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()

        def wire() -> None:  # in the child: the pipe ends on descriptors 3 and 4
            a, b = os.dup(to_browser), os.dup(from_browser)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [
                binary, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--hide-scrollbars", f"--user-data-dir={profile}", "about:blank",
            ],
            preexec_fn=wire,
            close_fds=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _w, _x = select.select([self._read], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(self, method: str, params: dict[str, Any] | None = None, session: bool = False) -> Any:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str) -> None:
        if any(e.get("method") == event for e in self.events):
            return
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            message = self._message(deadline)
            self.events.append(message)
            if message.get("method") == event:
                return

    def open(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_for("Page.loadEventFired")
        self.call("Runtime.evaluate", {"expression": "1"}, session=True)  # flush late events

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions, and browser log errors (CSP, failed loads)."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(f"console: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params.get('exceptionDetails')}")
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(f"log: {params['entry'].get('text')}")
        return found

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True
        )
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        size = self.evaluate("[document.documentElement.scrollWidth, document.body.scrollHeight]")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": max(size[0], 1000), "height": size[1], "deviceScaleFactor": 1,
             "mobile": False},
            session=True,
        )  # fmt: skip
        shot = self.call("Page.captureScreenshot", {"format": "png"}, session=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._read)
        os.close(self._write)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is required in CI (apt-get install -y chromium)")
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


@pytest.fixture
def browser(tmp_path: Path) -> Any:
    opened = Browser(_chromium(), tmp_path / "profile")
    try:
        yield opened
    finally:
        opened.close()


# --------------------------------------------------------------------------- the workspace


@pytest.fixture
def demo(
    make_repo: Callable[..., GitRepo], sot: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> GitRepo:
    """The demo workspace (with its drift) and snapshots from two devices."""
    repo = make_repo()
    shutil.copytree(DEMO / "docs", repo.path / "docs")
    shutil.copy2(DEMO / ".sotsync.toml", repo.path / ".sotsync.toml")
    shutil.copy2(DEMO / "autopack.db", repo.path / "autopack.db")
    repo.commit(message="demo")
    for device, count in (("laptop", 2), ("staging", 1)):
        for n in range(count):
            args = ("--repo", repo.path, "--device", device, "snapshot", "create", "-m", f"s{n}")
            assert sot(*args)[0] == 0
    return repo


def _figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="([^"]+)">([^<]*)<', html))


def _expected(sot: Callable[..., Result], repo: GitRepo) -> dict[str, str]:
    """What ``inspect``, ``reconcile`` and ``lint`` JSON say, named like the page's figures."""
    code, out, _err = sot("--repo", repo.path, "inspect", "--format", "json")
    assert code == 0
    expected: dict[str, str] = {}
    ledgers = json.loads(out)["ledgers"]
    paths = {ledger["path"]: ledger["name"] for ledger in ledgers}
    for ledger in ledgers:
        name, counts = ledger["name"], ledger["counts"]
        expected[f"ledger.{name}.entries"] = str(counts["entries"])
        expected[f"ledger.{name}.distinct_ids"] = str(counts["distinct_ids"])
        expected[f"ledger.{name}.index_rows"] = str(counts["index_rows"])
    code, out, _err = sot("--repo", repo.path, "reconcile", "--format", "json")
    assert code == 1
    doc = json.loads(out)
    expected["reconcile.runs_checked"] = str(doc["runs_checked"])
    expected["reconcile.clean"] = str(doc["clean"]).lower()
    for category, count in doc["counts"].items():
        expected[f"reconcile.{category}"] = str(count)
    code, out, _err = sot("--repo", repo.path, "lint", "--format", "json", "--fail-on", "never")
    for finding in json.loads(out)["findings"]:
        key = {"error": "errors", "warning": "warnings", "info": "info"}[finding["severity"]]
        name = paths[finding["path"]]
        figure = f"ledger.{name}.{key}"
        expected[figure] = str(int(expected.get(figure, "0")) + 1)
    return expected


# --------------------------------------------------------------------------- tests


def test_the_page_opens_without_errors_and_shows_the_same_figures(
    demo: GitRepo, sot: Callable[..., Result], browser: Browser, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    code, out, err = sot("--repo", demo.path, "report", "--html", page)
    assert (code, out) == (0, "")
    assert err == f"wrote {page} (reconcile: drift remains)\n"
    browser.open(page.as_uri())
    assert browser.errors() == []
    shown: dict[str, str] = browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('[data-figure]')]"
        ".map(e => [e.dataset.figure, e.textContent]))"
    )
    expected = _expected(sot, demo)
    for ledger in ("build", "debug", "decisions"):
        for severity in ("errors", "warnings", "info"):
            expected.setdefault(f"ledger.{ledger}.{severity}", "0")
    assert {k: shown[k] for k in expected} == expected
    assert (shown["snapshots.laptop.count"], shown["snapshots.staging.count"]) == ("2", "1")
    for ledger in ("build", "debug", "decisions"):
        dated, undated = (
            int(shown[f"ledger.{ledger}.dated"]),
            int(shown[f"ledger.{ledger}.undated"]),
        )
        assert dated + undated == int(shown[f"ledger.{ledger}.entries"])
    charts = browser.evaluate("document.querySelectorAll('svg.bars').length")
    dots = browser.evaluate("document.querySelectorAll('svg.timeline circle').length")
    assert (charts, dots) == (3, 3)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "report.png")
    assert (ARTIFACTS / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_error_collector_sees_errors(browser: Browser, tmp_path: Path) -> None:
    """A control: a page that does log errors is caught, so a clean result means something."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><title>x</title><script>console.error('boom')</script>"
        '<img src="missing.png">'
    )
    browser.open(bad.as_uri())
    found = browser.errors()
    assert any("boom" in e for e in found)
    assert any(e.startswith("log:") for e in found)


def test_the_page_is_self_contained_and_escapes_text(
    demo: GitRepo, sot: Callable[..., Result], tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    assert sot("--repo", demo.path, "report", "--html", page)[0] == 0
    html = page.read_text(encoding="utf-8")
    assert "default-src 'none'" in html
    assert not re.search(r"(?:src|href)=\"(?!data:)", html)
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    figures = _figures(html)
    assert figures["snapshots.laptop.count"] == "2"
    data: dict[str, Any] = {
        "version": 1,
        "generated": "2026-01-01T00:00:00Z",
        "workspace": "/w/<b>",
        "workspace_name": "<script>alert(1)</script>",
        "database": {"url": "sqlite:///x.db", "problem": "cannot <connect>"},
        "reconcile": {
            "clean": False, "offline": True, "runs_checked": 0, "counts": {"finding": 1},
            "categories": {"finding": "ledger findings"}, "total_items": 1,
            "items": [{"sign": "!", "category": "finding", "key": "a<b", "detail": "x&y",
                       "ledger": None}],
        },
        "ledgers": [
            {"name": "build", "path": "docs/B.md", "counts": {"entries": 1, "distinct_ids": 1,
             "index_rows": 1}, "findings": {"error": 0, "warning": 0, "info": 0},
             "codes": {}, "weeks": [("2026-01-05", 1)], "undated": 0},
        ],
        "snapshots": {"devices": [], "problem": "snapshots need a git repository"},
    }  # fmt: skip
    html = render_html(data)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "a&lt;b" in html and "x&amp;y" in html and "cannot &lt;connect&gt;" in html
    assert "snapshots need a git repository" in html


def test_an_unreachable_database_is_shown_not_fatal(
    demo: GitRepo, sot: Callable[..., Result], tmp_path: Path
) -> None:
    page = tmp_path / "r.html"
    code, _out, _err = sot("--repo", demo.path, "--database-url", f"sqlite:///{tmp_path}/no.db",
                           "report", "--html", page)  # fmt: skip
    assert code == 0
    html = page.read_text(encoding="utf-8")
    assert "database not checked: database file not found" in html
    assert _figures(html)["reconcile.runs_checked"] == "0"


def test_bad_output_paths_are_errors(
    demo: GitRepo, sot: Callable[..., Result], tmp_path: Path
) -> None:
    code, out, err = sot("--repo", demo.path, "report", "--html", tmp_path / "no" / "r.html")
    assert (code, out) == (3, "")
    assert err == (
        f"sotsync: error: cannot write {tmp_path / 'no' / 'r.html'}: {tmp_path / 'no'} does not "
        "exist\nhint: create the directory first, or choose another file name\n"
    )
    (tmp_path / "d").mkdir()
    code, _out, err = sot("--repo", demo.path, "report", "--html", tmp_path / "d")
    assert code in (2, 3)
