"""The escalation ladder as the complaint records it (docs/rules.md#escalation): each level
reached, who was told, and the supervisor's acknowledgement (督办确认, 督办意见).

Routing decides when a case reaches a level and who must be told (complaint.sla_warning,
complaint.overdue, complaint.escalated); notification tells them and reports each delivery
(notification.sent with the level); intake, the complaint's single writer, records all
three on the complaint:

- `escalations`: one item per level of each deadline round, with routing's reason, the
  deadline, the recipients (staff id and name), who was told through which channel and
  when, and the acknowledgement; GET /v1/complaints/{id} shows them;
- the timeline, chained like every entry: one entry per level reached, one per person (or
  group robot, or hospital system) first reached at that level, one per acknowledgement.

Who was told: a person gets one timeline entry per level, when the first notice reached
them (from then on they knew); every further channel that reached them (SMS after the
e-mail, the WeCom group) is listed on the escalation with its time. The office reads
"院领导督办：已通知郑国华（电子邮件）" once, not once per channel, and still sees every
channel on the escalation. The acknowledgement's own notice (the handler told what was
ordered) is kept the same way on the acknowledgement: its event id is derived from what it
acknowledges (`acknowledgement_event_id`, one per level and round), so its deliveries find
it as a step's find the step.

Nothing the complainant wrote or is appears here (docs/rules.md#confidentiality Q6):
routing's reason, the deadline and staff names only. Each change is pure; consumers.py
applies each event once, and `acknowledge` runs the supervisor's command.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from services.intake.change import Change, Entry, proven
from services.intake.delivery_problems import ROLE_LABELS
from services.intake.domain import authority
from services.intake.domain.authority import ACKNOWLEDGERS, Actor
from services.intake.domain.commands import AcknowledgeEscalation, InvalidField
from services.intake.domain.confidentiality import IdentityCipher
from services.intake.events import handler_of, lifecycle_event
from services.intake.lifecycle.runner import ComplaintNotFound
from services.intake.lifecycle.situation import parties
from services.intake.ports import IntakePorts
from shared.auth import BUREAU, Principal
from shared.contracts import (
    DeliveryChannel,
    Envelope,
    EscalationAcknowledged,
    EventPayload,
    LadderLevel,
    LadderStep,
    NotificationSent,
)
from shared.records import Decision, Record, envelope_for
from shared.staff_assertion import ASSERTION_HEADER, StaffAssertion


class NoticeBeforeItsStep(LookupError):
    """Transient: a ladder notice's delivery arrived before the step it tells of."""


class EscalationNotFound(LookupError):
    """No escalation of that level and round to acknowledge on this case."""


class AlreadyAcknowledged(Exception):
    """The escalation was acknowledged before; the first acknowledgement stands."""


def level_label(level: str) -> str:
    try:
        return LadderLevel(level).label
    except ValueError:
        return level


def channel_label(channel: str) -> str:
    try:
        return DeliveryChannel(channel).label
    except ValueError:
        return channel


_ACKNOWLEDGEMENTS = uuid5(NAMESPACE_URL, "huiyin:intake:complaint.escalation_acknowledged")


def acknowledgement_event_id(complaint_id: str, level: str, round_: int) -> UUID:
    """The id of complaint.escalation_acknowledged for one escalation: a level of a round is
    acknowledged once, so the fact names its event."""
    return uuid5(_ACKNOWLEDGEMENTS, f"{complaint_id}/{level}/{round_}")


def envelope_of(record: Record, event: EventPayload) -> Envelope:
    """How intake's events travel (shared/records.py envelope_for), an acknowledgement under
    its derived id."""
    envelope = envelope_for(record, event)
    if isinstance(event, EscalationAcknowledged):
        event_id = acknowledgement_event_id(record["_id"], event.level, event.round)
        return envelope.model_copy(update={"event_id": event_id})
    return envelope


def _position(escalations: list[dict[str, Any]], level: str, round_: int) -> int | None:
    for index, item in enumerate(escalations):
        if item["level"] == level and item["round"] == round_:
            return index
    return None


def step_change(
    complaint: dict[str, Any],
    envelope: Envelope,
    step: LadderStep,
    *,
    identity: IdentityCipher,
    now: datetime,
) -> Change:
    """A level reached: the escalation and its timeline entry. Each level of each round is
    reached once; another event for one already recorded only joins it (its notices then
    find it) and adds nothing to the timeline."""
    escalations = [dict(item) for item in complaint.get("escalations", [])]
    event_id = str(envelope.event_id)
    known = _position(escalations, step.level, step.round)
    if known is not None:
        item = escalations[known]
        if event_id not in item["event_ids"]:
            item["event_ids"] = [*item["event_ids"], event_id]
        return Change(set={"escalations": escalations})
    recipients = [{"staff_id": p.staff_id, "name": p.name} for p in step.recipients]
    label = level_label(step.level)
    escalations.append(
        {
            "level": step.level,
            "level_label": label,
            "round": step.round,
            "event_ids": [event_id],
            "reached_at": envelope.occurred_at,
            "reason": step.reason,
            "due_at": step.due_at,
            "overdue_working_days": step.overdue_working_days,
            "urgent": step.urgent,
            "department": step.department,
            "department_label": step.department_label,
            "recipients": recipients,
            "told": [],
            "supervised": step.level in ACKNOWLEDGERS,
            "acknowledgement": None,
        }
    )
    names = "、".join(p.name or p.staff_id for p in step.recipients) or "无可通知人员"
    return Change(
        set={"escalations": escalations},
        entries=[
            Entry(
                step.event_type.removeprefix("complaint."),
                "routing",
                f"{label}：{step.reason}；通知{names}",
                data={
                    "level": step.level,
                    "round": step.round,
                    "due_at": step.due_at,
                    "overdue_working_days": step.overdue_working_days,
                    "urgent": step.urgent,
                    "recipients": recipients,
                },
            )
        ],
    )


def told_change(
    complaint: dict[str, Any],
    envelope: Envelope,
    sent: NotificationSent,
    *,
    identity: IdentityCipher,
    now: datetime,
) -> Change:
    """A ladder notice reached someone: listed on its escalation (or, for the notice of an
    acknowledgement, on the acknowledgement), and a timeline entry the first time that
    person (or group, or system) is reached with it."""
    escalations = [dict(item) for item in complaint.get("escalations", [])]
    for item in escalations:
        if sent.source_event_id in item["event_ids"]:
            return _told(escalations, item, item, sent, envelope, what="")
        acknowledged = item.get("acknowledgement")
        if acknowledged and acknowledged.get("event_id") == sent.source_event_id:
            acknowledged = item["acknowledgement"] = dict(acknowledged)
            return _told(escalations, item, acknowledged, sent, envelope, what="督办意见")
    raise NoticeBeforeItsStep(
        f"complaint {complaint['_id']} has no ladder step {sent.source_event_id} yet"
    )


def _told(
    escalations: list[dict[str, Any]],
    item: dict[str, Any],
    notice: dict[str, Any],
    sent: NotificationSent,
    envelope: Envelope,
    *,
    what: str,
) -> Change:
    """`sent` added to `notice` (the escalation of `item`, or its acknowledgement)."""
    told = [dict(record) for record in notice.get("told", [])]
    again = next((r for r in told if r["delivery_id"] == sent.delivery_id), None)
    if again is not None:
        # The same delivery reported again: sent once more after an unknown outcome.
        again["after_unknown_outcome"] = again["after_unknown_outcome"] or (
            sent.after_unknown_outcome
        )
        notice["told"] = told
        return Change(set={"escalations": escalations})
    staff_id = sent.recipient_staff_id
    known = [*item["recipients"], *_handler_of(notice)]
    name = next((r["name"] for r in known if r["staff_id"] == staff_id), None)
    record = {
        "delivery_id": sent.delivery_id,
        "staff_id": staff_id,
        "name": name,
        "role": sent.recipient_role,
        "channel": sent.channel,
        "channel_label": channel_label(sent.channel),
        "at": envelope.occurred_at,
        "attempts": sent.attempts,
        "after_unknown_outcome": sent.after_unknown_outcome,
    }
    # A person is one reader whatever the channel; a group robot or a hospital system
    # (no staff id) is its own reader per delivery.
    first = staff_id is None or all(r["staff_id"] != staff_id for r in told)
    notice["told"] = [*told, record]
    change = Change(set={"escalations": escalations})
    if first:
        who = name or staff_id or record["channel_label"]
        via = record["channel_label"] if staff_id else ROLE_LABELS.get(sent.recipient_role)
        about = f"{what}（{item['level_label']}）" if what else item["level_label"]
        note = f"{about}：已通知{who}"
        note += f"（{via}）" if via else ""
        change.entries.append(
            Entry(
                "acknowledgement_notice_sent" if what else "ladder_notice_sent",
                "notification",
                note,
                data={
                    "level": item["level"],
                    "round": item["round"],
                    "staff_id": staff_id,
                    "name": name,
                    "channel": sent.channel,
                    "delivery_id": sent.delivery_id,
                },
            )
        )
    return change


def _handler_of(acknowledgement: dict[str, Any]) -> list[dict[str, Any]]:
    handler = acknowledgement.get("handler")
    return [handler] if handler else []


def acknowledgement_change(
    complaint: dict[str, Any],
    command: AcknowledgeEscalation,
    *,
    actor: Actor,
    acting_for: str,
    now: datetime,
) -> Change:
    """The supervisor's acknowledgement and what they ordered: kept on the escalation, in
    the timeline and published (complaint.escalation_acknowledged). Refused for a level
    nobody acknowledges or not reached (EscalationNotFound), for the wrong person
    (authority.NotPermitted) and when done before (AlreadyAcknowledged), in that order: a
    wrong person learns nothing of whether it was acknowledged."""
    if command.level not in ACKNOWLEDGERS:
        supervised = ", ".join(ACKNOWLEDGERS)
        raise EscalationNotFound(
            f"level: {command.level} is not an escalation a supervisor acknowledges "
            f"(only {supervised})"
        )
    escalations = [dict(item) for item in complaint.get("escalations", [])]
    position = _position(escalations, command.level, command.round)
    if position is None:
        raise EscalationNotFound(
            f"no escalation {command.level} in round {command.round} on this case"
        )
    authority.check_acknowledgement(command.level, actor, parties(complaint))
    item = escalations[position]
    if item.get("acknowledgement"):
        done = item["acknowledgement"]
        raise AlreadyAcknowledged(
            f"escalation {command.level} of round {command.round} was acknowledged by "
            f"{done['by']} at {done['at']:%Y-%m-%d %H:%M} UTC"
        )
    handler = handler_of(complaint)
    item["acknowledgement"] = {
        "by": actor.staff_id,
        "name": actor.name,
        "acting_for": acting_for,
        "at": now,
        "note": command.note,
        "event_id": str(acknowledgement_event_id(complaint["_id"], command.level, command.round)),
        "handler": {"staff_id": handler.staff_id, "name": handler.name} if handler else None,
        "told": [],
    }
    who = actor.name or actor.staff_id
    return Change(
        set={"escalations": escalations},
        entries=[
            Entry(
                "escalation_acknowledged",
                actor.staff_id,
                f"{item['level_label']}已确认（{who}），督办意见：{command.note}",
                data={"level": command.level, "round": command.round, "acting_for": acting_for},
            )
        ],
        events=[
            lifecycle_event(
                EscalationAcknowledged,
                complaint,
                now,
                actor.staff_id,
                level=command.level,
                round=command.round,
                note=command.note,
                handler=handler,  # told what was ordered
            )
        ],
    )


async def acknowledge(
    complaint_id: str,
    command: AcknowledgeEscalation,
    *,
    principal: Principal,
    proven_by: StaffAssertion,
    ports: IntakePorts,
) -> dict[str, Any]:
    """Run the acknowledgement as the proven supervisor: a hospital's staff member on that
    hospital's case, or one of the bureau's supervisors (proven by the bureau's own key) on
    any case. Returns the complaint as stored."""
    acting_for = proven_by.hospital_id  # a hospital, or the bureau (shared/staff_assertion.py)
    actor = await ports.directory.actor(acting_for, proven_by.staff_id)
    if actor is None:
        among = (
            "the bureau's supervisors (region file bureau.supervisors)"
            if acting_for == BUREAU
            else f"the staff of {acting_for}"
        )
        raise InvalidField(ASSERTION_HEADER, f"sub {proven_by.staff_id} is not one of {among}")

    def decide(complaint: dict[str, Any]) -> Decision:
        if not principal.may_see(complaint["hospital_id"]):
            raise ComplaintNotFound(complaint_id)
        now = datetime.now(UTC)
        change = acknowledgement_change(
            complaint, command, actor=actor, acting_for=acting_for, now=now
        )
        change.entries[:] = [proven(entry, proven_by) for entry in change.entries]
        return change.decision(complaint, now=now)

    changed = await ports.complaints.change(complaint_id, decide)
    if changed is None:
        raise ComplaintNotFound(complaint_id)
    return changed.after
