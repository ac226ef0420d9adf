"""The contract every Explorer keeps (d2l_bn/widgets/base.py), checked the same way for each widget."""
from __future__ import annotations

from typing import Any


def assert_refused_keeping_the_last_picture(explorer: Any, bad: dict[str, Any], complaint: str,
                                            good: dict[str, Any]) -> None:
    """Setting `bad` is a message naming `complaint`, not a traceback; picture and data stay; `good` clears it."""
    png, data = explorer.png, explorer.data
    explorer.set(**bad)
    assert complaint in explorer.message
    assert explorer.text().startswith("⚠")
    assert explorer.png == png and explorer.data is data
    explorer.set(**good)
    assert explorer.message == ""
