"""The one shape of the short ids the county gives things: stations, playlists, notices.

1–64 characters of ``a-z``, ``0-9`` and ``-``, starting with a letter or digit, so an id is safe in
a file name, a URL path and a TOML key without quoting. Course ids are the same shape, at least
three characters (``catalogue.course``).
"""

from __future__ import annotations

import re

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}\Z")  # \Z: "$" would let a trailing newline through
ID_RULE = "1-64 characters a-z, 0-9 and '-', starting with a letter or digit"


def is_id(value: object) -> bool:
    """True for a well-formed id (any other type or shape is False)."""
    return isinstance(value, str) and ID_PATTERN.match(value) is not None
