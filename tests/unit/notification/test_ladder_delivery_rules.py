"""The pure rules of the ladder's deliveries: office hours of working days, the backoff,
which release slots the morning opens, one delivery per level, person and channel, and the
morning digest's text."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notification.deliveries.attempt import DeliveryRules, backoff
from services.notification.deliveries.digest import digest_message
from services.notification.deliveries.dispatch import deliveries_of
from services.notification.domain.contacts import Address
from services.notification.domain.messages import Message, RecipientRole
from services.notification.domain.office_hours import STAFF_HOURS, is_working_day, release_at
from services.notification.tasks import release_slots
from shared.contracts import CHINA, DeliveryChannel
from tests.support import events as sample

SATURDAY_NIGHT = datetime(2026, 11, 28, 23, 0, tzinfo=CHINA)
NATIONAL_DAY = datetime(2026, 10, 2, 10, 0, tzinfo=CHINA)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 12, 1, 10, 0, tzinfo=CHINA), None),  # Tuesday, office hours
        (datetime(2026, 12, 1, 7, 59, tzinfo=CHINA), datetime(2026, 12, 1, 8, 0, tzinfo=CHINA)),
        (datetime(2026, 12, 1, 17, 30, tzinfo=CHINA), datetime(2026, 12, 2, 8, 0, tzinfo=CHINA)),
        (SATURDAY_NIGHT, datetime(2026, 11, 30, 8, 0, tzinfo=CHINA)),
        # The National Day holiday runs to 7 October; the make-up Saturday 10 October works.
        (NATIONAL_DAY, datetime(2026, 10, 8, 8, 0, tzinfo=CHINA)),
    ],
)
def test_a_notice_that_is_not_urgent_waits_for_office_hours_of_a_working_day(
    now: datetime, expected: datetime | None
) -> None:
    assert release_at(now, urgent=False) == expected
    assert release_at(now, urgent=True) is None


@given(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31)))
def test_a_released_notice_arrives_in_office_hours_of_a_working_day_and_never_early(
    naive: datetime,
) -> None:
    now = naive.replace(tzinfo=CHINA)
    when = release_at(now, urgent=False)
    if when is None:
        assert is_working_day(now.date()) and STAFF_HOURS.opens <= now.time() < STAFF_HOURS.closes
        return
    local = when.astimezone(CHINA)
    assert when > now and local.time() == STAFF_HOURS.opens and is_working_day(local.date())
    # No office hours of a working day lie between now and then.
    day = now.date()
    while day < local.date():
        if is_working_day(day):
            assert day == now.date() and now.time() >= STAFF_HOURS.closes
        day += timedelta(days=1)


@given(st.integers(min_value=1, max_value=30), st.floats(min_value=0, max_value=1))
def test_the_backoff_doubles_up_to_its_cap_with_jitter_in_its_upper_half(
    attempt: int, jitter: float
) -> None:
    rules = DeliveryRules(backoff_base_seconds=10, backoff_cap_seconds=600)
    ceiling = min(600, 10 * 2 ** (attempt - 1))
    assert ceiling / 2 <= backoff(attempt, rules, jitter=lambda: jitter) <= ceiling


def test_the_morning_opens_the_release_slots_of_its_day_and_the_working_days_before() -> None:
    monday_morning = datetime(2026, 11, 30, 8, 1, tzinfo=CHINA)
    slots = release_slots(monday_morning)
    assert slots[0] == "202611300000"  # 08:00 China is midnight UTC
    assert "202611290000" not in slots and "202611280000" not in slots  # the weekend
    assert "202611270000" in slots
    assert release_slots(monday_morning - timedelta(minutes=2))[0] == "202611270000"


def _routed(*pairs: tuple[str, DeliveryChannel]) -> list[tuple[Message, Address]]:
    message = Message(
        role=RecipientRole.COMPLAINT_OFFICE, to="o@hz1.example.org", subject="s", body="b"
    )
    return [(message, Address(channel, "to", key=key, shown="shown")) for key, channel in pairs]


def test_one_delivery_per_level_person_and_channel_urgent_at_once_others_in_office_hours() -> None:
    routed = _routed(
        ("hz-001-complaint_office-1", DeliveryChannel.EMAIL),
        ("hz-001-complaint_office-1", DeliveryChannel.SMS),
        ("group:office-wecom", DeliveryChannel.WECOM),
        ("hz-001-complaint_office-1", DeliveryChannel.EMAIL),  # told twice in one event
    )
    step = sample.escalated(level="complaint_office", round=2)
    envelope = sample.envelope(step, "c-1")
    night = SATURDAY_NIGHT.astimezone(UTC)
    documents = deliveries_of(envelope, step, routed, hospital=None, bureau=None, now=night)
    assert [d["_id"] for d in documents] == [
        "c-1:2:complaint_office:hz-001-complaint_office-1:email",
        "c-1:2:complaint_office:hz-001-complaint_office-1:sms",
        "c-1:2:complaint_office:group:none/office-wecom:wecom",
    ]
    assert {d["status"] for d in documents} == {"deferred"}
    assert all("to" not in d["address"] or d["address"]["to"] is None for d in documents[2:])
    urgent = step.model_copy(update={"urgent": True})
    now = deliveries_of(envelope, urgent, routed, hospital=None, bureau=None, now=night)
    assert {d["status"] for d in now} == {"queued"} and {d["release_at"] for d in now} == {None}


def test_the_digest_lists_each_case_with_its_deadline_and_level_and_nothing_when_none() -> None:
    document = {
        "name": "周督办",
        "email": "supervisor@bureau.hz.example.org",
        "role": "supervisor",
        "cases": {
            "c-2": {
                "case_number": "HZ-001-202611-00012",
                "department_label": "财务科",
                "due_at": datetime(2026, 11, 6, 15, 59, tzinfo=UTC),
                "level": "bureau",
            }
        },
    }
    digest = digest_message("bureau-sup-1", document, date(2026, 12, 1))
    assert digest is not None
    assert digest.message.subject == "【回音】每日督办汇总：1件投诉超期未答复"
    assert "HZ-001-202611-00012  财务科  答复期限2026年11月6日  卫健委督办" in digest.message.body
    assert digest_message("bureau-sup-1", document | {"cases": {}}, date(2026, 12, 1)) is None
    assert time(8, 0) == STAFF_HOURS.opens
