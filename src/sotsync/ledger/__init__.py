"""Ledger engine: read, lint, fix and extend Markdown source-of-truth ledgers.

markdown-it-py is used here and nowhere else in sotsync (as the reference for the fast block
scanner).  Nothing in this package performs I/O beyond what its callers pass in.
"""
