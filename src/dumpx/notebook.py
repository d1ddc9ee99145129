"""Short displays for notebooks and the REPL: a one-line ``__repr__``, a plain-text
``_repr_pretty_`` and an escaped ``_repr_html_`` that show the top of things, never thousands of
characters of dataclass fields."""

from __future__ import annotations

from .render import safe_html, safe_text


def pretty(obj, p, cycle: bool) -> None:
    """IPython's ``_repr_pretty_`` from the object's ``text()`` (or its repr)."""
    p.text(repr(obj) if cycle else (obj.text() if hasattr(obj, "text") else repr(obj)))


def html_block(title: str, rows: list[tuple[str, object]], *extra: str) -> str:
    """A titled two-column table (label, value) and any further HTML parts, all escaped."""
    body = "".join(f"<tr><th>{safe_html(k)}</th><td>{safe_html(str(v))}</td></tr>" for k, v in rows)
    return f"<div class='dumpx'><b>{safe_html(title)}</b><table>{body}</table>{''.join(extra)}</div>"


class Listing(list):
    """A list of records (verdicts, ...) that displays as a table of its ``columns``."""

    columns: tuple[str, ...] = ()
    title = ""

    def __init__(self, items=(), columns=(), title: str = ""):
        super().__init__(items)
        self.columns = tuple(columns)
        self.title = title

    def _cells(self, item) -> list[str]:
        return [str(getattr(item, c, "")) for c in self.columns]

    def __repr__(self) -> str:
        return f"<{self.title or 'list'}: {len(self)} entries>"

    def text(self, limit: int = 40) -> str:
        lines = [safe_text(self.title)] if self.title else []
        lines += ["  ".join(safe_text(x) for x in self._cells(it)) for it in self[:limit]]
        if len(self) > limit:
            lines.append(f"... {len(self) - limit} more")
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle):
        pretty(self, p, cycle)

    def _repr_html_(self, limit: int = 50) -> str:
        head = "".join(f"<th>{safe_html(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{safe_html(x)}</td>" for x in self._cells(it)) + "</tr>"
                       for it in self[:limit])
        more = f"<p>... {len(self) - limit} more</p>" if len(self) > limit else ""
        return (f"<table class='dumpx-table'><caption>{safe_html(self.title)}</caption><thead><tr>{head}</tr>"
                f"</thead><tbody>{body}</tbody></table>{more}")


class NotebookProgress:
    """``progress=True`` in a notebook: one line (step, percent, bytes, rate) that updates itself in
    place through IPython's display handle, at most five times a second."""

    def __init__(self, label: str = "dumpx"):
        import time
        from IPython.display import display
        self._time = time.monotonic
        self.label = label
        self.start = self.last = self._time()
        self.handle = display(f"{label} ...", display_id=True)

    def __call__(self, done: int, total: int | None) -> None:
        from .render import human_bytes
        now = self._time()
        if now - self.last < 0.2 and (total is None or done < total):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        pct = f"{100 * done / total:5.1f}% " if total else ""
        self.handle.update(f"{safe_text(self.label)}: {pct}{human_bytes(done)} at {human_bytes(rate)}/s")

    def phase(self, label: str) -> None:
        self.label, self.start, self.last = label, self._time(), 0.0
        self.handle.update(f"{safe_text(label)} ...")

    def close(self) -> None:
        self.handle.update(f"{safe_text(self.label)}: done in {self._time() - self.start:.1f} s")


def default_progress(label: str = "dumpx"):
    """What ``progress=True`` means where dumpx runs: a self-updating line in a notebook kernel, a
    line on stderr in a terminal, nothing when stderr is neither."""
    import sys
    if "ipykernel" in sys.modules:
        try:
            return NotebookProgress(label)
        except Exception:
            pass
    from .cli.progress import Progress
    return Progress(label)
