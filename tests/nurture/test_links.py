"""Tracking tokens: the signers with keys derived once make exactly itsdangerous's tokens."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer

from bot.nurture.links import TrackingLinks

SECRET = "test-secret"
LINKS = TrackingLinks("https://t.example.com", SECRET)


def token(url: str) -> str:
    return url.rsplit("/", 1)[1]


@given(send_id=st.integers(min_value=0, max_value=2**62), index=st.integers(0, 500))
@settings(max_examples=60, deadline=None, derandomize=True, database=None)
def test_tokens_are_the_ones_itsdangerous_makes_and_reads(send_id: int, index: int) -> None:
    def dumps(salt: str, value: object) -> str:
        return URLSafeSerializer(SECRET, salt=salt).dumps(value)

    assert token(LINKS.pixel(send_id)) == dumps("email-open", send_id)
    assert token(LINKS.opt_out(send_id)) == dumps("email-opt-out", send_id)
    assert token(LINKS.click(send_id, index)) == dumps("email-click", [send_id, index])
    assert LINKS.pixel_send(token(LINKS.pixel(send_id))) == send_id
    assert LINKS.opt_out_send(token(LINKS.opt_out(send_id))) == send_id
    assert LINKS.click_target(token(LINKS.click(send_id, index))) == (send_id, index)


@given(garbage=st.text(max_size=80))
@settings(max_examples=60, deadline=None, derandomize=True, database=None)
def test_the_pixel_check_refuses_what_it_did_not_sign(garbage: str) -> None:
    real = token(LINKS.pixel(7))
    assert LINKS.pixel_send(garbage) is None
    # Anything appended breaks the signature, or (padding) decodes to the same signed id.
    assert LINKS.pixel_send(real + garbage) in (None, 7)
    assert LINKS.pixel_send(real[:-1] + ("A" if real[-1] != "A" else "B")) is None
    assert TrackingLinks("https://t.example.com", "other").pixel_send(real) is None
    assert LINKS.pixel_send(token(LINKS.opt_out(7))) is None  # another purpose's token
