"""Writing an output file without following a link that is already where it goes.

An output folder may hold a symbolic link where an export or a briefing
file goes, left there by someone else or planted: opening that name for
writing would overwrite the link's target, wherever it is. Every output is
written instead to a new file beside it, created exclusively (``O_EXCL``
fails on any existing name, a link included, rather than follow it) and
written through that descriptor, then renamed over the name. A rename
replaces the link itself, never its target, and nobody sees half a file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["replacing"]


@contextmanager
def replacing(path: Path, mode: str = "w", *, encoding: str | None = None, newline: str | None = None) -> Iterator[IO]:
    """Open a new temporary file beside ``path``; when the block succeeds, rename it to ``path``.

    ``mode`` is ``"w"`` (text, give ``encoding``) or ``"wb"``. On any error
    the temporary file is removed and ``path`` is left as it was. The new
    file gets the usual permissions (0666 less the umask).
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, mode, encoding=encoding, newline=newline) as handle:
            yield handle
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
