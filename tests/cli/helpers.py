"""Leads and reps written straight to the store, for the CLI tests to list and act on."""

from __future__ import annotations

from typing import Any

import storage.leads
import storage.reps
from bot.leads.reply_address import new_reply_token
from storage.engine import Store
from storage.models import Lead, Rep


def add_lead(store: Store, email: str, **fields: Any) -> str:
    """A lead as capture would store it; returns its label (L-n)."""
    with store.transaction() as session:
        lead = Lead(email=email, reply_token=new_reply_token(), **fields)
        lead = storage.leads.add(session, lead)
        return f"L-{lead.id}"


def add_rep(store: Store, name: str, email: str, **fields: Any) -> str:
    with store.transaction() as session:
        rep = storage.reps.add(session, Rep(name=name, email=email, **fields))
        return f"R-{rep.id}"
