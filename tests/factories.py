"""Leads stored the way capture stores them, and the command grammar run as a person: shared by
the store-backed domain tests."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

import storage.leads
from bot.dedupe.index import index
from bot.leads import capture as capturing
from bot.leads import commands
from bot.leads.permissions import Actor
from bot.leads.reply_address import new_reply_token
from storage.models import Lead

OPERATOR = Actor.operator("ops")


def add_indexed_lead(session: Session, email: str, **fields: object) -> Lead:
    """A lead with its company and blocking keys, as capture leaves it."""
    lead = storage.leads.add(session, Lead(email=email, reply_token=new_reply_token(), **fields))
    index(session, lead)
    return lead


def run(session: Session, text: str, actor: Actor = OPERATOR) -> commands.Outcome:
    """`text` in the shared grammar, executed as `actor` in the caller's transaction."""
    return commands.execute(session, commands.parse(text), actor)


def enrichment_fails_for(monkeypatch: pytest.MonkeyPatch, address_prefix: str) -> None:
    """Capture's enrichment raises for addresses that start with `address_prefix`: one item of a
    batch that fails inside capture, for the doors' batch tests (it fails alone)."""
    real_guess = capturing.enrich.guess

    def guess(email: str, *args: Any, **kwargs: Any) -> Any:
        if email.startswith(address_prefix):
            raise ValueError("enrichment broke on this one")
        return real_guess(email, *args, **kwargs)

    monkeypatch.setattr(capturing.enrich, "guess", guess)
