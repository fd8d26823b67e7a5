"""The intake checks and the `[intake]` table, pure: no store, the flood count handed in."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.leads import fields
from bot.leads.intake import DEFAULT, address_key, check, disposable_domain, limit_of, parse_ref
from bot.rules.file import RulesError, RulesFile, parse_rules
from bot.rules.intake import IntakeRules


def checks(address: str, rules: IntakeRules = DEFAULT, recent: int = 0, **values: str) -> list[str]:
    return [reason.check for reason in check(address, values, rules, recent, "acme.io")]


def test_the_defaults_pass_todays_mail_and_hold_only_clear_junk() -> None:
    assert checks("jane.doe@acme-robotics.io", first_name="Jane", company="Acme Robotics") == []
    assert checks("info@acme-robotics.io") == []  # a role address makes a lead, as before
    assert checks("someone@gmail.com") == []
    assert checks("bot@mailinator.com") == ["disposable"]
    assert checks("x@eu.mailinator.com") == ["disposable"]  # a subdomain of a listed one
    assert checks("", first_name="Ann") == ["address"]
    assert checks("not-an-address") == ["address"]
    assert checks("ann@acme.io", company="x" * 201) == ["length"]
    assert checks("ann@acme.io", company="x" * 200) == []


def test_every_reason_is_given_with_what_was_seen() -> None:
    rules = IntakeRules.from_table({"role_addresses": True, "flood_limit": 3})
    reasons = check("sales@mailinator.com", {"phone": "1" * 65}, rules, 3, "mailinator.com")
    assert [str(r) for r in reasons] == [
        "disposable: mailinator.com is a disposable-mail domain",
        "role: sales@mailinator.com is a role address, not a person",
        "length: phone is 65 characters, over 64",
        "flood: 4 captures from mailinator.com within 10 minutes, over the limit of 3",
    ]
    assert reasons[0].as_data() == {"check": "disposable", "detail": reasons[0].detail}


def test_the_field_limits_come_from_the_declarations_and_can_be_overridden() -> None:
    declared = {f.name: f.max_chars for f in (fields.EMAIL, *fields.PERSON_FIELDS)}
    assert {name: limit_of(DEFAULT, name) for name in declared} == declared
    rules = IntakeRules.from_table({"max_chars": {"company": 10, "email": 20}})
    assert limit_of(rules, "company") == 10 and limit_of(rules, "title") == 200
    assert checks("ann@acme.io", rules, company="Acme Robotics") == ["length"]
    assert checks("a.very.long.name@acme.io", rules) == ["length"]


def test_a_flood_is_more_than_the_limit_within_the_window_and_0_turns_it_off() -> None:
    rules = IntakeRules.from_table({"flood_limit": 5, "flood_window_minutes": 2})
    assert rules.flood_window.total_seconds() == 120
    assert checks("ann@acme.io", rules, recent=4) == []  # the fifth
    assert checks("ann@acme.io", rules, recent=5) == ["flood"]  # the sixth
    assert checks("ann@acme.io", IntakeRules.from_table({"flood_limit": 0}), recent=10_000) == []
    assert (DEFAULT.flood_limit, DEFAULT.flood_window_minutes, DEFAULT.flood_by) == (
        30, 10, "address")  # fmt: skip


def test_domains_can_be_added_to_the_list_or_let_through() -> None:
    rules = IntakeRules.from_table({"disposable_domains": ["Junk.Example"],
                        "allowed_domains": ["@mailinator.com"]})  # fmt: skip
    assert disposable_domain("mail.junk.example", rules) == "junk.example"
    assert disposable_domain("mailinator.com", rules) is None
    assert checks("bot@mailinator.com", IntakeRules.from_table({"disposable": False})) == []


def test_the_flood_key_of_a_mail_is_its_sender_or_its_domain_but_never_a_free_mail_one() -> None:
    assert address_key(" Jane@Mail.Acme.co.uk") == "jane@mail.acme.co.uk"
    by_domain = IntakeRules.from_table({"flood_by": "domain"})
    assert address_key("Jane@Mail.Acme.co.uk", by_domain) == "acme.co.uk"
    assert address_key("jane@acme-robotics.io", by_domain) == "acme-robotics.io"
    assert address_key("Jane.Doe@Gmail.com", by_domain) == "jane.doe@gmail.com"


def test_holds_mails_and_form_submissions_are_named_h_m_and_f() -> None:
    assert parse_ref("H-12") == ("hold", 12)
    assert parse_ref(" m7 ") == ("message", 7)
    assert parse_ref("F-5") == ("submission", 5)
    for bad in ("12", "L-3", "H-", "H-x", ""):
        with pytest.raises(ValueError, match=r"H-12 .*, M-7 .* or F-5"):
            parse_ref(bad)


RULES = """\
[scoring]
half_life_days = 30

[intake]
role_addresses = true
flood_limit = 3

[intake.max_chars]
company = 80
"""


def test_the_intake_table_is_read_from_the_rules_file_which_lets_it_through() -> None:
    rules = parse_rules(RULES, "rules.toml").intake
    assert (rules.role_addresses, rules.flood_limit, limit_of(rules, "company")) == (True, 3, 80)
    assert rules.disposable  # a key left out keeps its default
    assert parse_rules("[scoring]\nhalf_life_days = 3\n").intake == DEFAULT


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("[intake]\nflood_limt = 3\n", 2, "intake.flood_limt: unknown key; known: disposable,"),
        ("[intake]\n\nrole_addresses = 1\n", 3, "intake.role_addresses: must be true or false"),
        ("[intake]\nflood_limit = -1\n", 2, "intake.flood_limit: must be a whole number"),
        ("[intake]\nflood_window_minutes = 0\n", 2, "must be a number above 0"),
        ('[intake]\nflood_by = "ip"\n', 2, "intake.flood_by: must be one of address, domain"),
        ('[intake]\ndisposable_domains = "x.io"\n', 2, "must be a list of domains"),
        ("[intake]\n[intake.max_chars]\nshoe_size = 3\n", 3, "shoe_size: not a lead field"),
        ("[intake]\n[intake.max_chars]\ncity = 0\n", 3, "city: must be a whole number"),
        ("[intake\n", 1, "TOML syntax"),
    ],
)
def test_a_bad_intake_table_is_refused_with_its_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(RulesError) as refused:
        parse_rules(text, "rules.toml")
    assert refused.value.line == line
    assert reason in refused.value.reason
    assert str(refused.value).startswith(f"rules.toml:{line}: ")


def test_the_rules_file_is_re_read_when_it_changes_and_a_bad_edit_keeps_the_last_good(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.toml"
    source = RulesFile(path, check_every=0)
    assert source.get().intake == DEFAULT  # no file yet
    path.write_text("[intake]\nflood_limit = 3\n")
    assert source.get().intake.flood_limit == 3
    path.write_text("[intake]\nflood_limit = 'many'\n# longer, so the size changes too\n")
    assert source.get().intake.flood_limit == 3 and source.error is not None
    assert source.error.line == 2
    path.write_text("[intake]\nflood_limit = 7\n")
    assert source.get().intake.flood_limit == 7 and source.error is None
    assert RulesFile(None).get().intake == DEFAULT
