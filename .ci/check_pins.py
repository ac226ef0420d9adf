"""Exit 1 if an installed package differs from its pin in a constraints file (the Colab-like stage's check).

    python .ci/check_pins.py .ci/colab-constraints.txt

Colab's kernel keeps running while the setup cell's pip installs: a package pip upgraded there is half old,
half new until the session restarts. So installing d2l_bn must leave every preinstalled package as it was.
"""
from __future__ import annotations

import sys
from importlib import metadata


def moved_pins(constraints: str) -> list[str]:
    moved = []
    for line in open(constraints):
        requirement = line.split("#")[0].strip()
        if not requirement:
            continue
        name, pinned = (part.strip() for part in requirement.split("=="))
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != pinned:
            moved.append(f"{name}: pinned {pinned}, installed {installed}")
    return moved


if __name__ == "__main__":
    moved = moved_pins(sys.argv[1])
    for line in moved:
        print("MOVED", line)
    print(f"{sys.argv[1]}: " + ("every pinned package is as Colab has it" if not moved else f"{len(moved)} moved"))
    sys.exit(1 if moved else 0)
