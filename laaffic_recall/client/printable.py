"""Text from LAAFFIC made safe to print on a terminal, in a log line or on a page.

A vendor message may carry ANSI/OSC escape sequences (``\\x1b]0;title\\x07``), other C0 or
C1 controls, or bidi overrides that make a line read differently than it is. Each such
character becomes a visible escape (``\\x1b``, ``\\u202e``); tab and newline stay. The
audit row keeps the text verbatim: only what is shown is escaped.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL and C1, the bidi marks, embeddings, overrides and
# isolates, and the two Unicode line breaks a log viewer may split on.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control, bidi and line-break character shown as an escape."""
    return _UNSAFE.sub(_escape, text)
