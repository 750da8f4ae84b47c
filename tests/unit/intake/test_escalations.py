"""The escalation ladder as the complaint records it, without servers
(services/intake/escalations.py): each level reached, who its notices reached, and the
supervisor's acknowledgement with its authority rule (domain/authority.py ACKNOWLEDGERS)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.intake.change import Change
from services.intake.domain import timeline
from services.intake.domain.authority import (
    ACKNOWLEDGERS,
    BUREAU_SUPERVISOR,
    Actor,
    CaseParties,
    NotPermitted,
    check_acknowledgement,
)
from services.intake.domain.commands import AcknowledgeEscalation, InvalidField
from services.intake.escalations import (
    AlreadyAcknowledged,
    EscalationNotFound,
    NoticeBeforeItsStep,
    acknowledgement_change,
    acknowledgement_event_id,
    envelope_of,
    step_change,
    told_change,
)
from shared.contracts import EventPayload, LadderLevel, Person
from tests.support import events as sample
from tests.unit.intake.factories import (
    ASSIGNMENT,
    HANDLER,
    IDENTITY,
    LEADER,
    NOW,
    NURSE,
    OFFICE,
    complaint,
)

SUPERVISOR = Actor("bureau-sup-1", "bureau", frozenset({BUREAU_SUPERVISOR}), "周督办")
LEADERS = [
    Person(staff_id=LEADER.staff_id, name=LEADER.name, email="vp@hz1.example.org"),
    Person(staff_id="hz-001-leader-2", name="孙院长"),
]
REACHED = NOW - timedelta(hours=2)


def applied(stored: dict[str, Any], change: Change) -> dict[str, Any]:
    """The complaint as the change leaves it (fields set, entries chained)."""
    update = change.decision(stored, now=NOW).update
    after = stored | update.get("$set", {})
    pushed = update.get("$push", {}).get("timeline", {"$each": []})["$each"]
    return after | {"timeline": [*stored.get("timeline", []), *pushed]}


def reached(stored: dict[str, Any], event: Any = None, **fields: Any) -> tuple[dict[str, Any], str]:
    """The complaint once the step is recorded, and the step's event id."""
    step = event or sample.escalated(recipients=LEADERS, **fields)
    envelope = sample.envelope(step, at=REACHED)
    change = step_change(stored, envelope, step, identity=IDENTITY, now=NOW)
    return applied(stored, change), str(envelope.event_id)


def notice(stored: dict[str, Any], **fields: Any) -> Change:
    sent = sample.notification_sent(**fields)
    return told_change(stored, sample.envelope(sent, at=NOW), sent, identity=IDENTITY, now=NOW)


def ack(level: str = "leadership", round_: int = 0, note: str = "请医务科三日内书面说明") -> Any:
    return AcknowledgeEscalation(level=level, round=round_, note=note)


# --- a level reached ------------------------------------------------------------------------


def test_a_level_reached_is_kept_with_its_recipients_and_chained_into_the_timeline() -> None:
    stored = complaint(status="assigned")
    after, event_id = reached(
        stored, reason="投诉第2次被申请复核", due_at=NOW, overdue_working_days=5, round=1
    )
    [escalation] = after["escalations"]
    assert escalation == {
        "level": "leadership",
        "level_label": "院领导督办",
        "round": 1,
        "event_ids": [event_id],
        "reached_at": REACHED,
        "reason": "投诉第2次被申请复核",
        "due_at": NOW,
        "overdue_working_days": 5,
        "urgent": False,
        "department": None,
        "department_label": None,
        "recipients": [
            {"staff_id": LEADER.staff_id, "name": "李院长"},
            {"staff_id": "hz-001-leader-2", "name": "孙院长"},
        ],
        "told": [],
        "supervised": True,
        "acknowledgement": None,
    }
    entry = after["timeline"][-1]
    assert (entry["type"], entry["by"]) == ("escalated", "routing")
    assert entry["note"] == "院领导督办：投诉第2次被申请复核；通知李院长、孙院长"
    assert entry["data"]["recipients"] == escalation["recipients"]
    # Staff addresses are notification's business; the complainant appears nowhere.
    assert "@" not in str(entry) and "李娜" not in str(after["escalations"])
    verdict = timeline.verify(after["_id"], after["timeline"], after["timeline_head"])
    assert verdict.ok and verdict.count == len(stored["timeline"]) + 1


@pytest.mark.parametrize(
    ("event", "entry_type", "supervised"),
    [
        (
            sample.sla_warning(recipients=[Person(staff_id=HANDLER.staff_id, name="王会计")]),
            "sla_warning",
            False,
        ),
        (sample.overdue(), "overdue", False),
        (sample.escalated(level="complaint_office"), "escalated", True),
        (sample.escalated(level="bureau"), "escalated", True),
    ],
)
def test_each_kind_of_step_is_its_own_timeline_entry(
    event: EventPayload, entry_type: str, supervised: bool
) -> None:
    after, _ = reached(complaint(status="assigned"), event)
    assert after["timeline"][-1]["type"] == entry_type
    assert after["escalations"][-1]["supervised"] is supervised


def test_a_step_without_anyone_to_tell_says_so() -> None:
    after, _ = reached(complaint(status="assigned"), sample.escalated(recipients=[]))
    assert after["timeline"][-1]["note"].endswith("通知无可通知人员")


def test_a_level_of_a_round_is_recorded_once_and_a_second_event_for_it_only_joins() -> None:
    first, first_id = reached(complaint(status="assigned"))
    again, again_id = reached(first)
    assert len(again["escalations"]) == 1 and len(again["timeline"]) == len(first["timeline"])
    assert again["escalations"][0]["event_ids"] == [first_id, again_id]
    # The same level in a later deadline round is a new escalation.
    later, _ = reached(again, round=1)
    assert [(e["level"], e["round"]) for e in later["escalations"]] == [
        ("leadership", 0),
        ("leadership", 1),
    ]


# --- who was told ---------------------------------------------------------------------------


def test_a_person_reached_is_one_timeline_entry_and_every_channel_is_listed() -> None:
    stored, event_id = reached(complaint(status="assigned"))
    by_mail = notice(
        stored,
        source_event_id=event_id,
        delivery_id=f"{event_id}:leadership:{LEADER.staff_id}",
        recipient_role="leadership",
        recipient_staff_id=LEADER.staff_id,
        level="leadership",
    )
    [entry] = by_mail.entries
    assert (entry.type, entry.by) == ("ladder_notice_sent", "notification")
    assert entry.note == "院领导督办：已通知李院长（电子邮件）"
    stored = applied(stored, by_mail)
    by_sms = notice(
        stored,
        source_event_id=event_id,
        delivery_id=f"{event_id}:leadership:{LEADER.staff_id}:sms",
        recipient_role="leadership",
        recipient_staff_id=LEADER.staff_id,
        channel="sms",
        attempts=2,
        level="leadership",
    )
    assert by_sms.entries == []  # they knew already
    stored = applied(stored, by_sms)
    told = stored["escalations"][0]["told"]
    assert [(t["staff_id"], t["name"], t["channel_label"], t["attempts"]) for t in told] == [
        (LEADER.staff_id, "李院长", "电子邮件", 1),
        (LEADER.staff_id, "李院长", "短信", 2),
    ]
    assert all(t["at"] == NOW for t in told)


def test_a_group_robot_is_its_own_reader_and_a_repeated_delivery_adds_nothing() -> None:
    stored, event_id = reached(complaint(status="assigned"))
    robot = {
        "source_event_id": event_id,
        "delivery_id": f"{event_id}:leadership:wecom",
        "recipient_role": "leadership",
        "channel": "wecom",
        "level": "leadership",
    }
    change = notice(stored, **robot)
    [entry] = change.entries
    assert entry.note == "院领导督办：已通知企业微信群机器人（院领导）"
    stored = applied(stored, change)
    # Sent once more after an unknown outcome: the same delivery, flagged, not a new reader.
    again = notice(stored, **robot, after_unknown_outcome=True)
    assert again.entries == []
    [told] = applied(stored, again)["escalations"][0]["told"]
    assert told["after_unknown_outcome"] is True


def test_a_notice_before_its_step_waits_for_it() -> None:
    with pytest.raises(NoticeBeforeItsStep):
        notice(complaint(status="assigned"), source_event_id="not-yet", level="leadership")


# --- acknowledgement ------------------------------------------------------------------------


def test_the_supervisor_of_the_level_acknowledges_once_with_what_they_ordered() -> None:
    stored, _ = reached(complaint(status="assigned", assignment=ASSIGNMENT))
    change = acknowledgement_change(stored, ack(), actor=LEADER, acting_for="hz-001", now=NOW)
    [entry] = change.entries
    assert (entry.type, entry.by) == ("escalation_acknowledged", LEADER.staff_id)
    assert entry.note == "院领导督办已确认（李院长），督办意见：请医务科三日内书面说明"
    [event] = change.events
    assert event.event_type == "complaint.escalation_acknowledged"
    assert (event.level, event.round, event.note, event.by) == (
        "leadership",
        0,
        "请医务科三日内书面说明",
        LEADER.staff_id,
    )
    assert event.handler is not None and event.handler.staff_id == HANDLER.staff_id
    after = applied(stored, change)
    assert after["escalations"][0]["acknowledgement"] == {
        "by": LEADER.staff_id,
        "name": "李院长",
        "acting_for": "hz-001",
        "at": NOW,
        "note": "请医务科三日内书面说明",
        "event_id": str(acknowledgement_event_id("c-0001", "leadership", 0)),
        "handler": {"staff_id": HANDLER.staff_id, "name": HANDLER.name},
        "told": [],
    }
    with pytest.raises(AlreadyAcknowledged, match=LEADER.staff_id):
        acknowledgement_change(after, ack(note="再次"), actor=LEADER, acting_for="hz-001", now=NOW)
    # Someone who may not acknowledge learns only that: not whether it was done.
    with pytest.raises(NotPermitted):
        acknowledgement_change(after, ack(), actor=NURSE, acting_for="hz-001", now=NOW)


def test_the_handler_told_what_was_ordered_is_kept_on_the_acknowledgement() -> None:
    stored, _ = reached(complaint(status="assigned", assignment=ASSIGNMENT))
    change = acknowledgement_change(stored, ack(), actor=LEADER, acting_for="hz-001", now=NOW)
    [event] = change.events
    # The event travels under the id its acknowledgement names, so its notices find it.
    envelope = envelope_of(stored, event)
    assert envelope.event_id == acknowledgement_event_id("c-0001", "leadership", 0)
    assert envelope.event_id != acknowledgement_event_id("c-0001", "leadership", 1)
    assert envelope_of(stored, sample.overdue()).event_id != envelope.event_id
    after = applied(stored, change)
    told = notice(
        after,
        source_event_id=str(envelope.event_id),
        delivery_id=f"{envelope.event_id}:handler",
        recipient_staff_id=HANDLER.staff_id,
        level="leadership",
    )
    [entry] = told.entries
    assert (entry.type, entry.note) == (
        "acknowledgement_notice_sent",
        "督办意见（院领导督办）：已通知王会计（电子邮件）",
    )
    acknowledgement = applied(after, told)["escalations"][0]["acknowledgement"]
    assert [(t["staff_id"], t["name"]) for t in acknowledgement["told"]] == [
        (HANDLER.staff_id, "王会计")
    ]


def test_a_bureau_escalation_is_the_bureaus_supervisors_to_acknowledge() -> None:
    stored, _ = reached(complaint(status="assigned"), sample.escalated(level="bureau"))
    with pytest.raises(NotPermitted, match="卫健委督办须由卫健委督办人员确认"):
        acknowledgement_change(stored, ack("bureau"), actor=LEADER, acting_for="hz-001", now=NOW)
    change = acknowledgement_change(
        stored, ack("bureau"), actor=SUPERVISOR, acting_for="bureau", now=NOW
    )
    assert change.entries[0].data == {"level": "bureau", "round": 0, "acting_for": "bureau"}


@pytest.mark.parametrize(
    ("level", "round_", "why"),
    [
        ("leadership", 1, "no escalation leadership in round 1"),
        ("complaint_office", 0, "no escalation complaint_office in round 0"),
        ("warning", 0, "not an escalation a supervisor acknowledges"),
        ("nonsense", 0, "not an escalation a supervisor acknowledges"),
    ],
)
def test_a_level_or_round_not_reached_or_not_supervised_is_not_found(
    level: str, round_: int, why: str
) -> None:
    stored, _ = reached(complaint(status="assigned"))
    stored, _ = reached(stored, sample.sla_warning())
    with pytest.raises(EscalationNotFound, match=why):
        acknowledgement_change(stored, ack(level, round_), actor=LEADER, acting_for="x", now=NOW)


def test_an_empty_order_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidField) as raised:
        ack(note="  ")
    assert raised.value.field == "note"


# --- who may acknowledge (domain/authority.py) ------------------------------------------------

CASE = CaseParties(handler=HANDLER.staff_id, department="finance", complained_about="hz-001-vp-9")
PEOPLE: dict[str, Actor] = {
    "office": OFFICE,
    "leader": LEADER,
    "supervisor": SUPERVISOR,
    "handler": HANDLER,
    "nurse": NURSE,
    "complained_about_leader": Actor("hz-001-vp-9", "leadership", frozenset({"leadership"})),
}
MAY: dict[str, set[str]] = {
    "complaint_office": {"office"},
    "leadership": {"leader"},
    "bureau": {"supervisor"},
    "warning": set(),
    "reply_due": set(),
}


@pytest.mark.parametrize("level", list(MAY))
def test_each_level_is_acknowledged_by_its_own_supervisors_only(level: str) -> None:
    for kind, actor in PEOPLE.items():
        try:
            check_acknowledgement(level, actor, CASE)
            allowed = True
        except NotPermitted as refusal:
            assert str(refusal).startswith("actor: ")
            allowed = False
        assert allowed is (kind in MAY[level]), (level, kind)


def test_the_acknowledged_levels_are_the_supervisors_rungs_of_the_ladder() -> None:
    assert set(ACKNOWLEDGERS) == {
        LadderLevel.COMPLAINT_OFFICE,
        LadderLevel.LEADERSHIP,
        LadderLevel.BUREAU,
    }
