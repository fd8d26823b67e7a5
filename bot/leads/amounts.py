"""Opportunity amounts as people type them: `48000`, `12.5k`, `€25,000`, `25k USD`, `USD 1.5m`.

An amount is a number and, when one was said, its currency (an ISO 4217 code). The currency is
kept beside the number, never folded into the opportunity's name, and a currency with no
number beside it, or a number with a currency we cannot read, is refused instead of guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₣": "CHF"}
# The codes people write beside an amount. A wider list would turn names ("Acme ABC") into
# currencies; a word with other letters glued to a number ("CRM2") stays part of the name.
_CODE_LIST = "USD EUR GBP CHF JPY CNY CAD AUD NZD SEK NOK DKK PLN CZK HUF INR BRL MXN ZAR SGD HKD"
CODES = frozenset([*_CODE_LIST.split(), "KRW", "TRY", "ILS", "AED", "SAR", "RUB"])
_NUMBER = r"\d[\d,]*(?:\.\d+)?[kKmM]?"
_SYMBOL = "[" + re.escape("".join(SYMBOLS)) + "]"
_CODE = "(?i:" + "|".join(sorted(CODES)) + ")"
# One word: `48,000`, `$40,000`, `€25k`, `25,000€`, `25kUSD`, `EUR25k`.
WORD_RE = re.compile(
    rf"^(?P<pre>{_SYMBOL}|{_CODE})?(?P<number>{_NUMBER})(?P<post>{_SYMBOL}|{_CODE})?$"
)
NUMBER_RE = re.compile(rf"^{_NUMBER}$")


class AmountError(ValueError):
    pass


@dataclass(frozen=True)
class Amount:
    value: float
    currency: str | None = None

    def __str__(self) -> str:
        number = f"{self.value:,.2f}"
        return f"{self.currency} {number}" if self.currency else number


def _currency(text: str | None) -> str | None:
    if not text:
        return None
    if text in SYMBOLS:
        return SYMBOLS[text]
    code = text.upper()
    if code not in CODES:
        raise AmountError(f"{text!r} is not a currency we know (write e.g. EUR, USD, €, $)")
    return code


def _number(text: str) -> float:
    cleaned = text.replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(cleaned[-1:].lower(), 1)
    if scale != 1:
        cleaned = cleaned[:-1]
    try:
        return float(cleaned) * scale
    except ValueError as exc:
        raise AmountError(f"{text!r} is not an amount") from exc


def parse_word(text: str) -> Amount:
    """One word as an amount; AmountError when it is not one."""
    match = WORD_RE.match(text.strip())
    if match is None:
        raise AmountError(f"{text!r} is not an amount")
    pre, post = match.group("pre"), match.group("post")
    if pre and post:
        raise AmountError(f"{text!r} names a currency twice")
    return Amount(_number(match.group("number")), _currency(pre or post))


def looks_like_amount(word: str) -> bool:
    """A word that is plainly meant as money: a digit with a currency sign or code glued on."""
    return bool(re.search(r"\d", word)) and any(symbol in word for symbol in SYMBOLS)


def take_trailing(words: list[str]) -> Amount | None:
    """Pop an amount off the end of `words` (`… 48000`, `… €25,000`, `… 25k USD`, `… USD 1.5m`)
    and return it; None when the words end in no amount. A trailing currency with no number, or
    money we cannot read, raises AmountError: it must not become part of a name."""
    if not words:
        return None
    last = words[-1]
    if last in CODES or last in SYMBOLS:
        if len(words) >= 2 and NUMBER_RE.match(words[-2]):
            number = words[-2]
            del words[-2:]
            return Amount(_number(number), _currency(last))
        raise AmountError(f"{last!r} needs an amount beside it (e.g. 25k {last})")
    if len(words) >= 2 and (words[-2] in CODES or words[-2] in SYMBOLS):
        if NUMBER_RE.match(last):
            code = words[-2]
            del words[-2:]
            return Amount(_number(last), _currency(code))
        raise AmountError(f"{words[-2]!r} needs an amount after it (e.g. {words[-2]} 1.5m)")
    if WORD_RE.match(last):
        amount = parse_word(last)
        words.pop()
        return amount
    if looks_like_amount(last):
        raise AmountError(f"{last!r} is not an amount (write e.g. 25000, 25k, €25,000, 25k USD)")
    return None
