"""Characters that must not pass silently from the input to a report.

* Control characters (C0 other than tab, line feed and carriage return; DEL; C1; and the
  non-characters U+FFFE/U+FFFF): XML 1.0 forbids most of them even as references, so one
  form feed in an exclusion reason makes an SVG ill-formed, and in text they are
  invisible. The readers refuse them at their file, row and column; the writers of SVG,
  HTML and CSV replace any that reach them by U+FFFD (JSON escapes them itself).
* Bidirectional controls (U+202A-U+202E embeddings and overrides, U+2066-U+2069
  isolates, U+200E/U+200F marks, U+061C): legitimate in right-to-left text, but a
  right-to-left override with reversed text displays as another name ("Trojan Source").
  The readers warn with the code point, file, row and column.

Standard library only: every pipeline job imports it.
"""

from __future__ import annotations

import re
import unicodedata

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
# what XML 1.0 forbids outright (C1 and DEL are allowed, though discouraged)
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

_C0_NAMES = {
    0x00: "NUL",
    0x07: "bell",
    0x08: "backspace",
    0x0B: "vertical tab",
    0x0C: "form feed",
    0x1B: "escape",
    0x7F: "delete",
}


def describe_character(ch: str) -> str:
    """``'U+000C (form feed)'``, ``'U+202E (RIGHT-TO-LEFT OVERRIDE)'``."""
    code = ord(ch)
    name = _C0_NAMES.get(code) or unicodedata.name(ch, "")
    if not name:
        name = "control character" if code < 0xA0 else "non-character"
    return f"U+{code:04X} ({name})"


def control_character(text: str) -> str | None:
    """The first control character of ``text`` described (None if there is none)."""
    m = CONTROL.search(text)
    return None if m is None else describe_character(m.group())


def bidi_characters(text: str) -> list[str]:
    """The distinct bidirectional controls of ``text``, described, in order of appearance."""
    return list(dict.fromkeys(describe_character(c) for c in BIDI.findall(text)))


def bidi_message(text: str) -> str | None:
    """The warning for a text holding bidirectional controls (None if it holds none)."""
    found = bidi_characters(text)
    if not found:
        return None
    shown = BIDI.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return (
        f"holds the bidirectional control character{'s' if len(found) > 1 else ''} "
        f"{', '.join(found)}: it may display in another order than it is stored "
        f"(stored: {shown!r}); remove it unless the text is right-to-left script"
    )


def printable(text: str) -> str:
    """``text`` with every control character replaced by U+FFFD."""
    return CONTROL.sub("\ufffd", text)


def xml_safe(text: str) -> str:
    """``text`` with the characters XML 1.0 forbids replaced by U+FFFD (for SVG/HTML)."""
    return _XML_FORBIDDEN.sub("\ufffd", text)
