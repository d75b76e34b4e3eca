"""Pure rules: ID numbers, the visit policy and its slots, and dispatch's priority table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.care_record.elder.models import (
    Elder,
    Sex,
    encode_categories,
    id_check_digit,
    make_id_number,
    mask_id_number,
    mask_phone,
    validate_id_number,
)
from services.care_record.elder.visit_policy import (
    DEFAULT_VISIT_POLICY,
    Frequency,
    VisitPolicy,
    is_overdue,
    missed_slots,
    parse_period,
    required_frequency,
)
from services.dispatch.elder.models import ElderFacts
from services.dispatch.incident.priority import BASE_PRIORITY, score

TODAY = date(2026, 11, 23)


def test_id_number_check_digit_follows_iso_7064() -> None:
    # The worked example of GB 11643: 11010519491231002X.
    assert id_check_digit("11010519491231002") == "X"
    assert validate_id_number("11010519491231002x") == "11010519491231002X"
    for bad, reason in (
        ("110105194912310021", "check digit"),
        ("1101051949123100", "17 digits"),
        ("110105194913310021", "birth date"),  # month 13, with a correct check digit
    ):
        with pytest.raises(ValueError, match=reason):
            validate_id_number(bad)


def test_generated_id_numbers_are_valid_and_masked_to_the_last_four() -> None:
    number = make_id_number("152530", date(1938, 2, 9), 321, Sex.MALE)
    assert validate_id_number(number) == number
    assert int(number[16]) % 2 == 1  # odd 17th digit: a man
    assert mask_id_number(number) == "*" * 14 + number[-4:]


def elder(*, born: date, living: str = "with_family", categories: tuple[str, ...] = ()) -> Elder:
    return Elder(birth_date=born, living_situation=living, categories=encode_categories(list(categories)))


@pytest.mark.parametrize(
    ("born", "living", "categories", "expected"),
    [
        (date(1940, 1, 1), "alone", ("special_hardship",), Frequency.WEEKLY),  # hardship, alone, 86
        (date(1950, 1, 1), "alone", ("disabled",), Frequency.WEEKLY),  # lives alone and disabled
        (date(1950, 1, 1), "alone", (), None),  # lives alone, 76, not disabled: no requirement
        (date(1950, 1, 1), "with_family", ("special_hardship",), Frequency.MONTHLY),
        (date(1946, 11, 24), "with_family", ("special_hardship",), Frequency.MONTHLY),  # 79 until tomorrow
        (date(1946, 11, 23), "with_family", ("special_hardship",), Frequency.WEEKLY),  # 80 today
        (date(1940, 1, 1), "with_family", ("subsistence_allowance",), None),
    ],
)
def test_default_policy(born: date, living: str, categories: tuple[str, ...], expected: Frequency | None) -> None:
    assert required_frequency(elder(born=born, living=living, categories=categories), DEFAULT_VISIT_POLICY, TODAY) == (
        expected
    )


def test_policy_is_configuration() -> None:
    policy = VisitPolicy.model_validate({"rules": [{"frequency": "monthly", "all_of": [["dementia"]]}]})
    dementia = elder(born=date(1960, 1, 1), categories=("dementia",))
    assert required_frequency(dementia, policy, TODAY) is Frequency.MONTHLY
    assert required_frequency(elder(born=date(1940, 1, 1), categories=("special_hardship",)), policy, TODAY) is None


def test_overdue_after_a_week_for_weekly_elders() -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    weekly = elder(born=date(1940, 1, 1), living="alone", categories=("special_hardship",))
    assert is_overdue(weekly, DEFAULT_VISIT_POLICY, now)  # never visited
    weekly.last_visit_at = now - timedelta(days=6)
    assert not is_overdue(weekly, DEFAULT_VISIT_POLICY, now)
    weekly.last_visit_at = now - timedelta(days=8)
    assert is_overdue(weekly, DEFAULT_VISIT_POLICY, now)


def test_weekly_slots_cover_the_month_in_china_time_and_only_ended_ones_count() -> None:
    period = parse_period("2026-02")
    slots = period.slots(Frequency.WEEKLY)
    assert [s.label() for s in slots] == [
        "2026-02-01..2026-02-07",
        "2026-02-08..2026-02-14",
        "2026-02-15..2026-02-21",
        "2026-02-22..2026-02-28",
    ]
    assert slots[0].start == datetime(2026, 1, 31, 16, tzinfo=UTC)  # midnight in Beijing
    visits = [datetime(2026, 2, 3, tzinfo=UTC), datetime(2026, 2, 16, tzinfo=UTC)]
    mid_month = datetime(2026, 2, 20, tzinfo=UTC)
    assert [s.label() for s in missed_slots(Frequency.WEEKLY, period, visits, mid_month)] == ["2026-02-08..2026-02-14"]
    assert missed_slots(Frequency.MONTHLY, period, visits, period.end) == []
    assert missed_slots(Frequency.MONTHLY, period, [], mid_month) == []  # the month is not over yet
    with pytest.raises(ValueError):
        parse_period("2026-13")


def test_priority_table_raises_for_vulnerable_elders_with_reasons() -> None:
    ordinary = ElderFacts(ability_level=1, living_situation="with_family", birth_date=date(1955, 1, 1))
    assert score("sos", ordinary, today=TODAY).priority == BASE_PRIORITY["sos"] == 2
    for facts, reason in (
        (ElderFacts(ability_level=3, birth_date=date(1955, 1, 1)), "ability level 3+"),
        (ElderFacts(living_situation="alone", birth_date=date(1955, 1, 1)), "lives alone"),
        (ElderFacts(categories=frozenset({"dementia"}), birth_date=date(1955, 1, 1)), "dementia"),
        (ElderFacts(birth_date=date(1940, 1, 1)), "aged 80"),
    ):
        decision = score("sos", facts, today=TODAY)
        assert decision.priority == 1, facts
        assert any(reason in r for r in decision.reasons), decision.reasons
    # Several factors never go above P1; a removed watch of a wandering-prone elder rises from P4.
    everything = ElderFacts(ability_level=4, living_situation="alone", categories=frozenset({"dementia"}))
    assert score("sos", everything, today=TODAY).priority == 1
    assert score("device_removed", ElderFacts(categories=frozenset({"dementia"})), today=TODAY).priority == 3
    unbound = score("sos", None, today=TODAY)
    assert unbound.priority == 1 and any("unbound device" in r for r in unbound.reasons)


def test_phones_in_lists_keep_the_first_three_and_last_four_digits_of_a_mobile() -> None:
    assert mask_phone("13912345678") == "139****5678"
    assert mask_phone("+86 139-1234-5678") == "+86 139-****-5678"
    assert mask_phone("025-81507000") == "025-****7000"
    assert mask_phone("12349") == "*2349"
    assert mask_phone(None) is None
