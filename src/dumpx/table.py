"""A small column table backed by numpy arrays, with a lazy ``to_pandas()``."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .render import safe_html, safe_text


class LazyColumn:
    """A column of values made only for the rows looked at (a dump can name a million classes; a
    table of its top 20 should decode 20 names). ``keys`` are selected and reordered like any
    column; ``fetch(keys)`` turns keys into an object array of values."""

    dtype = np.dtype(object)

    def __init__(self, keys: np.ndarray, fetch):
        self.keys = keys
        self.fetch = fetch

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, sel):
        if isinstance(sel, (int, np.integer)):
            return self.fetch(self.keys[[sel]])[0]
        return LazyColumn(self.keys[sel], self.fetch)

    def values(self) -> np.ndarray:
        out = self.fetch(self.keys)
        return out if isinstance(out, np.ndarray) else np.asarray(out, dtype=object)


class Table:
    """Named numpy columns of equal length.

    Per-class or per-bucket results (never per heap object) are returned as Tables:
    index with a column name to get the array, ``to_pandas()`` for a DataFrame.
    """

    def __init__(self, columns: Mapping[str, Any], *, title: str = "", hex_columns=()):
        self._cols: dict[str, np.ndarray | LazyColumn] = {}
        n = None
        for k, v in columns.items():
            a = v if isinstance(v, (np.ndarray, LazyColumn)) else np.asarray(v)
            if n is None:
                n = len(a)
            elif len(a) != n:
                raise ValueError(f"column {k!r} has {len(a)} rows, expected {n}")
            self._cols[k] = a
        self.title = title
        self.hex_columns = set(hex_columns)

    @property
    def columns(self) -> list[str]:
        return list(self._cols)

    def __len__(self) -> int:
        return len(next(iter(self._cols.values()))) if self._cols else 0

    def _col(self, key: str) -> np.ndarray:
        """A column's values; a lazy column is made whole once asked for as a whole."""
        a = self._cols[key]
        if isinstance(a, LazyColumn):
            a = self._cols[key] = a.values()
        return a

    def __getitem__(self, key):
        if isinstance(key, str):
            return self._col(key)
        return Table({k: v[key] for k, v in self._cols.items()}, title=self.title,
                     hex_columns=self.hex_columns)

    def __contains__(self, key) -> bool:
        return key in self._cols

    def sort_by(self, column: str, descending: bool = True) -> "Table":
        a = self._col(column)
        order = np.argsort(-a if descending and a.dtype.kind in "iuf" else a, kind="stable")
        if descending and a.dtype.kind not in "iuf":
            order = order[::-1]
        return self[order]

    def head(self, n: int = 10) -> "Table":
        return self[:n]

    def where(self, mask) -> "Table":
        return self[np.asarray(mask)]

    def rows(self) -> list[dict[str, Any]]:
        names = self.columns
        cols = [self._col(k).tolist() for k in names]
        return [dict(zip(names, vals)) for vals in zip(*cols)]

    def to_dict(self) -> dict[str, list]:
        return {k: self._col(k).tolist() for k in self.columns}

    def to_pandas(self):
        import pandas as pd  # lazy: pandas is optional
        return pd.DataFrame({k: self._col(k) for k in self.columns})

    def _fmt(self, col: str, v) -> str:
        if col in self.hex_columns and isinstance(v, (int, np.integer)):
            return f"0x{int(v):x}"
        if isinstance(v, (int, np.integer)):
            return f"{int(v):,}"
        if isinstance(v, (float, np.floating)):
            return f"{float(v):.4g}"
        return safe_text(v)

    def text(self, max_rows: int = 40) -> str:
        names = self.columns
        n = len(self)
        shown = min(n, max_rows)
        part = self[:shown]
        cells = [[self._fmt(c, part._col(c)[i]) for c in names] for i in range(shown)]
        widths = [max([len(c)] + [len(r[j]) for r in cells]) for j, c in enumerate(names)]
        numeric = [self._cols[c].dtype.kind in "iuf" for c in names]

        def line(vals):
            return "  ".join(v.rjust(w) if num else v.ljust(w)
                             for v, w, num in zip(vals, widths, numeric)).rstrip()

        out = [safe_text(self.title)] if self.title else []
        out.append(line([safe_text(c) for c in names]))
        out += [line(r) for r in cells]
        if n > shown:
            out.append(f"... {n - shown} more rows")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<Table {self.title!r} {len(self)} rows x {len(self._cols)} columns>"

    def _repr_html_(self, max_rows: int = 50) -> str:
        names = self.columns
        part = self[:max_rows]
        head = "".join(f"<th>{safe_html(c)}</th>" for c in names)
        body = "".join(
            "<tr>" + "".join(f"<td>{safe_html(self._fmt(c, part._col(c)[i]))}</td>" for c in names)
            + "</tr>" for i in range(len(part)))
        cap = f"<caption>{safe_html(self.title)}</caption>" if self.title else ""
        more = f"<p>... {len(self) - max_rows} more rows</p>" if len(self) > max_rows else ""
        return f"<table class='dumpx-table'>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"
