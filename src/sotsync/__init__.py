"""sotsync: keep Markdown source-of-truth ledgers, the run database and git consistent.

This package root stays import-light on purpose: git hooks start a new interpreter for every
commit, so nothing here may import click, markdown-it-py or dulwich.
"""

__version__ = "0.1.0"
