"""Self-contained HTML pages: escaped text, tables, embedded PNG figures, one style.

The pieces the package's pages share (the search's ``report.html``, the ``explain`` page):
no script, no network, no other file; every text is HTML-escaped on the way in.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["PNG_MAGIC", "STYLE", "Cell", "escape", "figure", "number", "page", "png_img", "table"]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:80em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.stable{background:#e5f5e0}.unstable{background:#fee0d2}.caution{background:#fff3bf}.gs{font-weight:bold}
.note{padding:.6em 1em;background:#fff8e1;border-left:4px solid #d4a017}
.missing{color:#999}img{max-width:100%;border:1px solid #ddd}
figure{margin:1em 0}figcaption{font-size:.9em;color:#555}pre{background:#f7f7f7;padding:.5em}
"""

#: A table cell: its HTML (escaped), or ``(css_class, html)``, e.g. ``("num", "1.23")``.
Cell = str | tuple[str, str]


def escape(value: Any) -> str:
    """``value`` as escaped HTML text (None as an empty string)."""
    return "" if value is None else html.escape(str(value), quote=True)


def number(value: Any, spec: str = ".3f") -> str:
    """A number formatted with ``spec``; anything else escaped as it is."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format(value, spec)
    return escape(value if value is not None else "")


def table(headers: Sequence[str], rows: Iterable[Sequence[Cell]], table_id: str) -> str:
    """An HTML table; ``rows`` hold cell HTML (already escaped); a cell ``(cls, html)`` gets
    that CSS class (``num``: right-aligned).
    """
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, tuple):
                cells.append(f'<td class="{escape(cell[0])}">{cell[1]}</td>')
            else:
                cells.append(f"<td>{cell}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table id="{escape(table_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def png_img(data: bytes, alt: str) -> str:
    """An ``<img>`` of PNG bytes (empty when they are not a PNG)."""
    if not data.startswith(PNG_MAGIC):
        return ""
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{encoded}">'


def figure(data: bytes, caption: str) -> str:
    """A ``<figure>`` of PNG bytes with its caption (empty when they are not a PNG)."""
    img = png_img(data, caption)
    return f"<figure>{img}<figcaption>{escape(caption)}</figcaption></figure>" if img else ""


def page(title: str, sections: Iterable[str]) -> str:
    """A whole page: the title, the style, the sections (HTML) in order."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(s for s in sections if s)
        + "</body></html>\n"
    )
