"""Class names in one spelling, the dump's own (HotSpot's): what other tools print is turned into it."""

from __future__ import annotations

import re

_PRIM_NAMES = {"boolean": "Z", "char": "C", "float": "F", "double": "D", "byte": "B", "short": "S",
               "int": "I", "long": "J"}


def class_name(name: str) -> str:
    """One spelling for a class name, the dump's: ``java.lang.Object[]`` and ``int[][]`` (MAT,
    VisualVM, hprof-slurp) become ``[Ljava.lang.Object;`` and ``[[I``; a hidden class's
    ``Name/0x..`` (the JVM's histogram) becomes ``Name+0x..``; a module suffix
    (``(java.base@17.0.15)``) is dropped."""
    name = re.sub(r"\s*\([^()]*@[^()]*\)$", "", name.strip()).replace("/0x", "+0x")
    dims = 0
    while name.endswith("[]"):
        name, dims = name[:-2], dims + 1
    if not dims:
        return name
    return "[" * dims + (_PRIM_NAMES[name] if name in _PRIM_NAMES else f"L{name};")
