"""Text from outside (subjects, names, bodies, errors) shown in the terminal as text.

Rich reads `[...]` in a string as markup: a subject `[/] pricing` made `leadbot inbox list` exit
with a MarkupError, and `[link=http://evil.example]` became a live hyperlink. Rich also passes
escape sequences through (it strips only BEL, BS, VT, FF and CR), so a subject could clear the
screen or hide a link. Every CLI output of outside text goes through one of these:

- `safe_text(value)`: a rich `Text`, for table cells and `out.print`: never read as markup;
- `shown(value)`: the plain string, for prints with `markup=False` and for joining;
- `safe_markup(value)`: escaped for embedding in our own markup (`f"[bold]{…}[/bold]"`).

Control characters become visible stand-ins instead of acting: C0 ones as their Unicode control
pictures (ESC as ␛), DEL and C1 ones and the bidirectional overrides (which reorder what is
shown, as in a spoofed file name) as U+FFFD. Newline and tab are kept where a block of text is
shown (`multiline=True`); in a one-line cell they become spaces.
"""

from __future__ import annotations

import re
from typing import Any

from rich.markup import escape
from rich.text import Text

# C0 controls but tab and newline, DEL, C1 controls, and the bidi embeddings/overrides/isolates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile("[\t\n]")


def _stand_in(match: re.Match[str]) -> str:
    code = ord(match.group())
    return chr(0x2400 + code) if code < 0x20 else "\ufffd"


def shown(value: Any, *, multiline: bool = False) -> str:
    """`value` as a string with every control character replaced by a visible stand-in."""
    text = "" if value is None else str(value)
    text = _CONTROL.sub(_stand_in, text)
    if not multiline:
        text = _LINE_BREAKS.sub(" ", text)
    return text


def safe_text(value: Any, *, multiline: bool = False, style: str = "") -> Text:
    """`value` as a rich Text: shown as written, never interpreted as markup."""
    return Text(shown(value, multiline=multiline), style=style)


def safe_markup(value: Any, *, multiline: bool = False) -> str:
    """`value` escaped for a string that is printed with markup on."""
    return escape(shown(value, multiline=multiline))
