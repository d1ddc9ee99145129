"""Escaping of strings that come from a dump, for terminals and HTML.

A dump is attacker-controlled: a class name or a thread name can carry ANSI escapes,
bidi overrides or markup. Everything from a dump goes through these before display.
"""

from __future__ import annotations

import re

# control, bidi and zero-width characters; and a backslash where it would read as the start of one
# of the escapes below (\xHH, \uHHHH, \n, \t, \\): before x, u, n, t, another backslash, a
# character that is itself escaped, or at the end — elsewhere (a Windows path) it stays as it is
_ESCAPED = "\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff"
_UNSAFE = re.compile(f"[{_ESCAPED}]|\\\\(?=[xunt\\\\{_ESCAPED}]|\\Z)")
_NAMED = {"\n": "\\n", "\t": "\\t", "\\": "\\\\"}


def _esc(m: re.Match) -> str:
    c = m.group(0)
    if c in _NAMED:
        return _NAMED[c]
    o = ord(c)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


MAX_TEXT = 1000


def safe_text(value, limit: int | None = MAX_TEXT) -> str:
    """``value`` as one line of text without control, bidi or escape characters, cut at ``limit``
    characters with the length stated (a 1 MiB class name is data, not a screenful)."""
    cut = ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        n = len(value)
        if limit is not None and n > 4 * limit:
            value, cut = value[:limit], f"…[{n:,} bytes, {n - limit:,} not shown]"
        value = bytes(value).decode("utf-8", "backslashreplace")
    s = str(value)
    if limit is not None and len(s) > limit and not cut:
        cut = f"…[{len(s):,} characters, {len(s) - limit:,} not shown]"
        s = s[:limit]
    return _UNSAFE.sub(_esc, s) + cut


def safe_html(value) -> str:
    """``value`` escaped for HTML text and attributes."""
    import html
    return html.escape(safe_text(value), quote=True)


def fmt_value(value, hex_: bool = False) -> str:
    """Format an evidence value for display (ints as hex when they are addresses/offsets)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"0x{value:x}" if hex_ else f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_value(v, hex_) for v in value)
    return safe_text(value)


def human_bytes(n: int | float) -> str:
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover
