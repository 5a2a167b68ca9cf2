"""gzip for HTTP answers: asked for by the client, produced the same way for every route."""

from __future__ import annotations

import gzip
from typing import Any

# Both the answer and its Vary: a cache between a scraper and physgap must not hand gzip to a client that
# did not ask for it.
GZIP_HEADERS = (("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding"))


def wants_gzip(environ: dict[str, Any]) -> bool:
    return "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")


def gzip_member(data: bytes) -> bytes:
    """One gzip member. Level 1: most of the saving for a fraction of the CPU. mtime 0: the same bytes give
    the same member, so a member can be cached and members can be concatenated (RFC 1952 2.2: a gzip file is
    a series of members; every HTTP client of note, Go's and Python's included, reads them all)."""
    return gzip.compress(data, compresslevel=1, mtime=0)
