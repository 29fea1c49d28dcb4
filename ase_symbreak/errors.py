"""Error messages: one line that says what went wrong."""

from __future__ import annotations

__all__ = ["first_line"]


def first_line(exc: BaseException) -> str:
    """The first non-empty line of ``str(exc)``, or the exception's type name when it has none.

    >>> first_line(ValueError("bad cell\\nmore detail"))
    'bad cell'
    >>> first_line(KeyError())
    'KeyError'
    """
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__
