"""Fixtures of the assignment tests: the clock the store-backed tests move."""

from __future__ import annotations

import pytest

from tests.assignment.helpers import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()
