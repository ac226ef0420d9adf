"""The contract every Explorer keeps (d2l_bn/widgets/base.py), checked the same way for each widget."""
from __future__ import annotations

from typing import Any


def assert_refused_keeping_the_last_picture(explorer: Any, bad: dict[str, Any], complaint: str,
                                            good: dict[str, Any]) -> None:
    """Setting `bad` is a message naming `complaint`, not a traceback; controls, picture and data stay; `good`
    clears it."""
    png, data, values = explorer.png, explorer.data, explorer.values
    result = explorer.set(**bad)
    assert not result.accepted and complaint in result.message
    assert complaint in explorer.message
    assert explorer.text().startswith("⚠") and repr(result) == explorer.text()
    assert explorer.png == png and explorer.data is data
    assert explorer.values == values          # all or nothing: not one control moved
    assert explorer.set(**good).accepted
    assert explorer.message == ""
