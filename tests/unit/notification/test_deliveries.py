"""Delivering notices once per event and person, with in-process stand-ins for the
delivery log, the mailer and the outbox relay (the real ones are exercised in
tests/integration/test_notification_escalation.py)."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.notification.adapters.mailer import SendFailed
from services.notification.delivery_policy import DeliveryStatus, classify
from services.notification.domain.messages import Message
from services.notification.domain.notices import notices_for
from services.notification.service import (
    DeliveriesInFlight,
    DeliveryPorts,
    delivery_id_of,
    notify,
)
from shared.contracts import ComplaintEscalated, Envelope, Person, SupplementRequested

SENDING, SENT, FAILED = DeliveryStatus.SENDING, DeliveryStatus.SENT, DeliveryStatus.FAILED
UNKNOWN = DeliveryStatus.UNKNOWN
URL = "https://huiyin.example.org/v1/track/"
LEADERS = [
    Person(staff_id="hz-001-leadership-1", name="郑国华", email="vp@hz1.example.org"),
    Person(staff_id="hz-001-leadership-2", name="孙院长", email="president@hz1.example.org"),
    Person(staff_id="hz-001-leadership-3", name="钱院长", email="chief@hz1.example.org"),
]
ESCALATED = ComplaintEscalated(
    case_number="HZ-001-202611-00007",
    level="leadership",
    reason="投诉第2次被申请复核",
    recipients=LEADERS,
)


@dataclass
class Relay:
    published: list[Envelope] = field(default_factory=list)

    def notify(self, key: str, envelopes: list[Envelope]) -> None:
        self.published.extend(envelopes)


@dataclass
class Log:
    """The delivery log in a dict; an outcome's event goes to the relay, as the real
    log's records do."""

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    relay: Relay = field(default_factory=Relay)

    async def claim(self, delivery_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        if delivery_id in self.documents:
            return dict(self.documents[delivery_id])
        self.documents[delivery_id] = fields | {"status": SENDING, "attempts": 1, "retries": 0}
        return None

    async def mark_unknown(self, delivery_id: str, *, attempt: int, failure) -> None:  # type: ignore[no-untyped-def]
        self.documents[delivery_id]["status"] = UNKNOWN

    async def start_attempt(self, delivery_id: str, *, after_unknown: bool, **_: Any) -> int:
        document = self.documents[delivery_id]
        document |= {"status": SENDING, "attempts": document["attempts"] + 1}
        return document["attempts"]

    async def finish(
        self, delivery_id: str, *, status, entry, failure=None, event=None, retried=False, **_
    ) -> None:  # type: ignore[no-untyped-def]
        document = self.documents[delivery_id]
        document |= {"status": status, "error": failure.reason if failure else None, "event": event}
        document["retries"] += int(retried)
        if event is not None:
            envelope = event.envelope(
                hospital_id=document["hospital_id"], complaint_id=document["complaint_id"]
            )
            self.relay.notify(delivery_id, [envelope])


@dataclass
class Mailer:
    refuse: set[str] = field(default_factory=set)
    sent: list[Message] = field(default_factory=list)

    def message_id(self, delivery_id: str) -> str:
        return f"<{delivery_id}@huiyin>"

    async def send(self, message: Message, *, message_id: str) -> None:
        if message.to in self.refuse:
            error = smtplib.SMTPRecipientsRefused({message.to: (550, b"no such user")})
            raise SendFailed(classify(error, body_sent=False))
        self.sent.append(message)


@dataclass
class Retries:
    delays: tuple[float, ...] = (10.0, 60.0)
    scheduled: list[int] = field(default_factory=list)

    async def schedule(self, envelope: Envelope, *, step: int) -> None:
        self.scheduled.append(step)


def ports_of(log: Log, mailer: Mailer, relay: Relay) -> Any:
    log.relay = relay
    return DeliveryPorts(log, mailer, Retries(), DeliveriesInFlight())  # type: ignore[arg-type]


def envelope_of(event: Any) -> Envelope:
    return event.envelope(hospital_id="hz-001", complaint_id="c-1")


async def test_one_event_to_three_leaders_sends_three_mails_and_a_redelivery_none() -> None:
    log, mailer, relay = Log(), Mailer(), Relay()
    envelope = envelope_of(ESCALATED)
    for _ in range(2):  # the broker delivers the same event twice
        await notify(envelope, ESCALATED, tracking_url=URL, ports=ports_of(log, mailer, relay))
    assert sorted(m.to for m in mailer.sent) == sorted(str(p.email) for p in LEADERS)
    assert sorted(log.documents) == sorted(
        f"{envelope.event_id}:leadership:{p.staff_id}" for p in LEADERS
    )
    assert [e.type for e in relay.published] == ["notification.sent"] * 3
    assert {e.payload["recipient_role"] for e in relay.published} == {"leadership"}
    # The log keeps a masked address only.
    assert {d["recipient"] for d in log.documents.values()} == {
        "v***@hz1.example.org",
        "p***@hz1.example.org",
        "c***@hz1.example.org",
    }


async def test_a_refused_address_is_logged_failed_and_the_others_still_get_mail() -> None:
    log, mailer, relay = Log(), Mailer(refuse={"president@hz1.example.org"}), Relay()
    envelope = envelope_of(ESCALATED)
    await notify(envelope, ESCALATED, tracking_url=URL, ports=ports_of(log, mailer, relay))
    assert len(mailer.sent) == 2
    failed = log.documents[f"{envelope.event_id}:leadership:hz-001-leadership-2"]
    assert failed["status"] == FAILED and "收件地址被拒收" in failed["error"]
    assert sorted(e.type for e in relay.published) == [
        "notification.failed",
        "notification.sent",
        "notification.sent",
    ]
    # A 5xx refusal is final: a redelivered event sends neither it nor the sent ones again.
    again = Mailer()
    await notify(envelope, ESCALATED, tracking_url=URL, ports=ports_of(log, again, relay))
    assert again.sent == []
    assert log.documents[f"{envelope.event_id}:leadership:hz-001-leadership-2"]["status"] == FAILED


async def test_an_anonymous_step_sends_nothing_and_logs_nothing() -> None:
    log, mailer, relay = Log(), Mailer(), Relay()
    event = SupplementRequested(
        case_number="HZ-001-202611-00008",
        tracking_code="ABCD-EFGH-JKLM",
        at=datetime(2026, 11, 2, 2, 0, tzinfo=UTC),
        missing="就诊记录",
    )
    await notify(envelope_of(event), event, tracking_url=URL, ports=ports_of(log, mailer, relay))
    assert mailer.sent == [] and log.documents == {} and relay.published == []


def test_delivery_ids_differ_per_person_and_repeat_per_event() -> None:
    envelope = envelope_of(ESCALATED)
    messages = notices_for(ESCALATED, tracking_url=URL)
    ids = [delivery_id_of(envelope, m) for m in messages]
    assert len(set(ids)) == 3
    assert ids == [delivery_id_of(envelope, m) for m in notices_for(ESCALATED, tracking_url=URL)]
    other = envelope_of(ESCALATED)
    assert not set(ids) & {delivery_id_of(other, m) for m in messages}
