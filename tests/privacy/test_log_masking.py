"""Addresses never reach a log line unmasked."""

from __future__ import annotations

import logging

import pytest

from bot.log_masking import MaskAddresses, mask


def test_addresses_are_masked_in_the_message_and_its_arguments(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("leadbot.test.masking")
    caplog.handler.addFilter(MaskAddresses())
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("lead.new L-1: Jane <%s> wrote to %s", "jane.doe@acme.io", "leads@x.test")
    assert (
        caplog.records[0].getMessage() == "lead.new L-1: Jane <j***@acme.io> wrote to l***@x.test"
    )
    assert mask("no address here, 100% sure") == "no address here, 100% sure"
