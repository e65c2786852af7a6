"""Reporting to the headend: the uploader loop, ``station report --once`` and the health sample
(docs/reporting.md is the wire contract)."""
