"""Nova's rules for the names of servers, flavors, aggregates and server groups, and for
descriptions.

A name is printable characters of the Basic Multilingual Plane: no control or format
characters (Unicode category C) and no line or paragraph separators; it may contain spaces
(category Zs) but may not start or end with one. Built the way Nova builds its pattern (a
character class over U+0000..U+FFFE), once, at import.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any


def _printable(char: str) -> bool:
    category = unicodedata.category(char)
    return not category.startswith("C") and (not category.startswith("Z") or category == "Zs")


def _char_class(keep: Any) -> str:
    """A regex character class body of the code points below U+FFFF for which ``keep``."""
    parts: list[str] = []
    start = None
    for code in range(0xFFFF + 1):
        inside = code < 0xFFFF and keep(chr(code))
        if inside and start is None:
            start = code
        elif not inside and start is not None:
            end = code - 1
            parts.append(re.escape(chr(start)) if start == end
                         else f"{re.escape(chr(start))}-{re.escape(chr(end))}")
            start = None
    return "".join(parts)


_BODY = _char_class(_printable)
_NOT_AT_EDGE = _char_class(lambda c: not (_printable(c) and unicodedata.category(c) != "Zs"))

NAME_PATTERN = f"^(?![{_NOT_AT_EDGE}])[{_BODY}]*(?<![{_NOT_AT_EDGE}])$"

NAME: dict[str, Any] = {
    "type": "string", "minLength": 1, "maxLength": 255, "pattern": NAME_PATTERN,
    # what Nova says (the pattern itself is thousands of characters long)
    "x-pattern-message": "An invalid 'name' value was provided. The name must be: printable "
                         "characters. Can not start or end with whitespace.",
}


def description(max_length: int) -> dict[str, Any]:
    """A description: printable characters, spaces anywhere, or null (Nova's rule)."""
    return {
        "type": ["string", "null"], "minLength": 0, "maxLength": max_length,
        "pattern": f"^[{_BODY}]*$",
        "x-pattern-message": "An invalid 'description' value was provided. The description "
                             "must be: printable characters with whitespace.",
    }
