"""Delivering notices once per event and person, with in-process stand-ins for the
delivery log, the mailer and the outbox relay (the real ones are exercised in
tests/integration/test_notification_escalation.py)."""

from __future__ import annotations

from services.notification.delivery_policy import DeliveryStatus
from services.notification.domain.notices import notices_for
from services.notification.service import delivery_id_of, notify
from shared.contracts import Person
from tests.support.events import envelope, escalated, supplement_requested
from tests.unit.notification.fakes import Mailer, Stand

URL = "https://huiyin.example.org/v1/track/"
LEADERS = [
    Person(staff_id="hz-001-leadership-1", name="郑国华", email="vp@hz1.example.org"),
    Person(staff_id="hz-001-leadership-2", name="孙院长", email="president@hz1.example.org"),
    Person(staff_id="hz-001-leadership-3", name="钱院长", email="chief@hz1.example.org"),
]
ESCALATED = escalated(recipients=LEADERS)


async def test_one_event_to_three_leaders_sends_three_mails_and_a_redelivery_none() -> None:
    stand = Stand()
    sent = envelope(ESCALATED)
    for _ in range(2):  # the broker delivers the same event twice
        await notify(sent, ESCALATED, tracking_url=URL, ports=stand.ports)
    assert sorted(stand.mailed_to) == sorted(str(p.email) for p in LEADERS)
    assert sorted(stand.log.documents) == sorted(
        f"{sent.event_id}:leadership:{p.staff_id}" for p in LEADERS
    )
    assert [e.type for e in stand.relay.published] == ["notification.sent"] * 3
    assert {e.payload["recipient_role"] for e in stand.relay.published} == {"leadership"}
    # The log keeps a masked address only.
    assert {d["recipient"] for d in stand.log.documents.values()} == {
        "v***@hz1.example.org",
        "p***@hz1.example.org",
        "c***@hz1.example.org",
    }


async def test_a_refused_address_is_logged_failed_and_the_others_still_get_mail() -> None:
    stand = Stand(mailer=Mailer(refuse={"president@hz1.example.org"}))
    sent = envelope(ESCALATED)
    await notify(sent, ESCALATED, tracking_url=URL, ports=stand.ports)
    assert len(stand.mailer.sent) == 2
    failed = stand.log.documents[f"{sent.event_id}:leadership:hz-001-leadership-2"]
    assert failed["status"] == DeliveryStatus.FAILED and "收件地址被拒收" in failed["error"]
    assert sorted(e.type for e in stand.relay.published) == [
        "notification.failed",
        "notification.sent",
        "notification.sent",
    ]
    # A 5xx refusal is final: a redelivered event sends neither it nor the sent ones again.
    stand.mailer = Mailer()
    await notify(sent, ESCALATED, tracking_url=URL, ports=stand.ports)
    assert stand.mailer.sent == []
    failed = stand.log.documents[f"{sent.event_id}:leadership:hz-001-leadership-2"]
    assert failed["status"] == DeliveryStatus.FAILED


async def test_an_anonymous_step_sends_nothing_and_logs_nothing() -> None:
    stand = Stand()
    event = supplement_requested(complainant_email=None)
    await notify(envelope(event), event, tracking_url=URL, ports=stand.ports)
    assert stand.mailer.sent == [] and stand.log.documents == {} and stand.relay.published == []


def test_delivery_ids_differ_per_person_and_repeat_per_event() -> None:
    sent = envelope(ESCALATED)
    messages = notices_for(ESCALATED, tracking_url=URL)
    ids = [delivery_id_of(sent, m) for m in messages]
    assert len(set(ids)) == 3
    assert ids == [delivery_id_of(sent, m) for m in notices_for(ESCALATED, tracking_url=URL)]
    other = envelope(ESCALATED)
    assert not set(ids) & {delivery_id_of(other, m) for m in messages}
