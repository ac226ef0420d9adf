"""Interactive explorers used in the notebooks; see :mod:`d2l_bn.widgets.base` for the pattern."""
from d2l_bn.widgets.base import Explorer, SetResult

__all__ = ["Explorer", "SetResult"]
