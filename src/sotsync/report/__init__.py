"""The operator's page (SPEC §7, `sotsync report --html`): rendering only.

``page`` builds one self-contained HTML document, ``svg`` its charts.  The data comes from
``sotsync.api.reporting``; nothing here reads files, talks to a database or prints.
"""

from sotsync.report.page import render_html

__all__ = ["render_html"]
