"""One question the command lines ask before doing any work: can we write into this folder?"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional


def unwritable_reason(folder: Path) -> Optional[str]:
    """Why nothing can be written into `folder` (created if missing), or None when it can.

    Tried, not predicted from permission bits: those say nothing about a read-only file system, and
    nothing at all for root.
    """
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        return f'{type(err).__name__}: {err.strerror or err}'
    return None
