"""Reading the package's TOML inputs (search and training recipes) with bounded work.

A recipe is data that people share: before :mod:`tomllib` sees it, the file must be a
regular file (a named pipe would block forever), at most :data:`MAX_BYTES` long, and nested
at most :data:`MAX_NESTING` deep (``tomllib`` recurses once per level of ``[`` or ``{`` and
takes quadratic time in the parts of a dotted key: 5,000 brackets end in a
``RecursionError``, a key of 100,000 dotted parts runs out of memory).
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

__all__ = ["MAX_BYTES", "MAX_NESTING", "TomlFileError", "nesting", "read_toml"]

#: Largest TOML input read (bytes); the package's recipes are about 1 kB.
MAX_BYTES = 1 << 20
#: Deepest nesting of arrays, inline tables and dotted-key parts.
MAX_NESTING = 32


class TomlFileError(ValueError):
    """A TOML input that cannot be read or parsed; the message is one line naming the file."""


def read_toml(path: str | os.PathLike[str], what: str = "recipe") -> dict[str, Any]:
    """The parsed TOML of ``path``; :class:`TomlFileError` naming ``what`` and the file
    when it is missing, not a regular file, not text, too large, too deeply nested or not
    valid TOML.
    """
    path = Path(path)
    try:
        info = os.stat(path)
    except OSError as err:
        raise TomlFileError(f"cannot read {what} {path}: {err.strerror or err}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise TomlFileError(f"cannot read {what} {path}: it is {kind}")
    if info.st_size > MAX_BYTES:
        raise TomlFileError(
            f"{what} {path} is {info.st_size} bytes; a recipe may be at most {MAX_BYTES}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise TomlFileError(f"cannot read {what} {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise TomlFileError(f"{what} {path} is not a text (TOML) file") from None
    depth = nesting(text)
    if depth > MAX_NESTING:
        raise TomlFileError(
            f"{what} {path} nests arrays, tables or dotted keys {depth} deep; "
            f"at most {MAX_NESTING} are read"
        )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise TomlFileError(f"malformed TOML in {what} {path}: {err}") from None
    except RecursionError:  # pragma: no cover - nesting() bounds the depth first
        raise TomlFileError(f"{what} {path} is nested too deeply") from None


def nesting(text: str) -> int:
    """How deep ``text`` nests ``[``/``{`` and dotted-key parts, strings and comments skipped.

    An upper bound of what ``tomllib`` recurses through (a number's decimal point counts as
    one part), found in one pass.

    >>> nesting('a = [[1, 2], {b.c = 3}]')
    2
    >>> nesting('s = "[[[["  # [[[[')
    0
    """
    depth = deepest = dots = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c in "\"'":
            quote = text[i : i + 3] if text.startswith(c * 3, i) else c
            i += len(quote)
            while i < n and not text.startswith(quote, i):
                i += 2 if (text[i] == "\\" and quote[0] == '"') else 1
            i += len(quote)
            continue
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(depth - 1, 0)
        elif c == ".":
            dots += 1
            deepest = max(deepest, dots)
        elif c in "=,\n":
            dots = 0
        i += 1
    return deepest
