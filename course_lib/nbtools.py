"""Small helpers for the chapter notebooks."""

from __future__ import annotations

import inspect


def show_source(*objects) -> "object":
    """Display the source of package classes/functions as highlighted code.

    Chapters never redefine a class of the package: they show its source with this helper, then use it.
    """
    from IPython.display import Code

    text = "\n\n".join(inspect.getsource(obj) for obj in objects)
    return Code(text, language="python")


def table(rows: list[dict], columns: list[str] | None = None, floatfmt: str = ".3f") -> str:
    """A plain-text table (stable across machines, so nbval can compare it)."""
    if not rows:
        return "(empty)"
    columns = columns or list(rows[0])

    def fmt(v):
        if isinstance(v, float):
            return format(v, floatfmt)
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{v:,}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.rjust(w) if v[:1].isdigit() else v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join([line, sep, *body])


def and_list(items) -> str:
    """``"0, 1 and 2"``: items joined for a sentence (``""`` for none)."""
    items = [str(i) for i in items]
    return " and ".join(items) if len(items) < 3 else ", ".join(items[:-1]) + " and " + items[-1]


def signed(value: float, digits: int = 3, *, max_digits: int = 6) -> str:
    """``value`` with its sign and ``digits`` decimals (``"+0.035"``), except that a nonzero value which would
    print as zero gets more decimals (up to ``max_digits``) until it shows its size and sign: ``-0.0002``, not
    ``-0.000``, for an interval bound just below zero."""
    text, d = f"{value:+.{digits}f}", digits
    while value != 0 and not text.strip("+-0.") and d < max_digits:
        d += 1
        text = f"{value:+.{d}f}"
    return "+" + text[1:] if value == 0 else text
