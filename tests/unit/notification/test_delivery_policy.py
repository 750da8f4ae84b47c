"""The delivery policy without servers: what each SMTP or network error means, the backoff
arithmetic and its retry queues, and how one delivery's attempts are recorded (with
in-process stand-ins for the delivery log, mailer, relay and retry queues)."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notification.adapters.mailer import message_id_for
from services.notification.delivery_policy import (
    REASON_LABELS,
    DeliveryStatus,
    FailureKind,
    classify,
    most_attempts,
    retry_delay,
    scrub,
)
from services.notification.service import notify
from shared.topology import (
    declare_retry_queues,
    delay_milliseconds,
    queue_name,
    retry_queue_name,
)
from tests.support.events import LEADER, envelope, escalated
from tests.unit.notification.fakes import Mailer, Retries, Stand

ADDRESS = "li.si@patients.example.org"

# --- classification -----------------------------------------------------------------------

CASES = [
    # 4xx replies: not now
    (
        smtplib.SMTPRecipientsRefused({ADDRESS: (450, b"mailbox busy")}),
        False,
        "may_pass",
        "deferred",
    ),
    (smtplib.SMTPSenderRefused(421, b"closing", "noreply@x.org"), False, "may_pass", "deferred"),
    (smtplib.SMTPDataError(452, b"insufficient storage"), True, "may_pass", "deferred"),
    (smtplib.SMTPConnectError(421, b"too busy"), False, "may_pass", "deferred"),
    # 5xx replies: never
    (
        smtplib.SMTPRecipientsRefused({ADDRESS: (550, b"5.1.1 user unknown")}),
        False,
        "permanent",
        "recipient_rejected",
    ),
    (
        smtplib.SMTPSenderRefused(553, b"not allowed", "noreply@x.org"),
        False,
        "permanent",
        "sender_rejected",
    ),
    (smtplib.SMTPDataError(554, b"spam"), True, "permanent", "message_rejected"),
    (smtplib.SMTPHeloError(501, b"bad helo"), False, "permanent", "server_refused"),
    (
        smtplib.SMTPAuthenticationError(535, b"bad credentials"),
        False,
        "permanent",
        "server_refused",
    ),
    (
        smtplib.SMTPNotSupportedError("SMTPUTF8 not supported"),
        False,
        "permanent",
        "server_unsupported",
    ),
    # the network, before the message was handed over: may pass
    (ConnectionRefusedError(111, "Connection refused"), False, "may_pass", "connection_refused"),
    (ConnectionResetError(104, "reset by peer"), False, "may_pass", "connection_lost"),
    (TimeoutError("timed out"), False, "may_pass", "timeout"),
    (smtplib.SMTPServerDisconnected("gone"), False, "may_pass", "connection_lost"),
    (socket.gaierror(-2, "Name or service not known"), False, "may_pass", "network"),
    # ...and after the body was sent, with no reply: the server may have it
    (TimeoutError("timed out"), True, "unknown", "timeout"),
    (smtplib.SMTPServerDisconnected("gone"), True, "unknown", "connection_lost"),
    (ConnectionResetError(104, "reset by peer"), True, "unknown", "connection_lost"),
    # a message that cannot be built, and our own mistakes: never
    (UnicodeEncodeError("ascii", "李", 0, 1, "no"), False, "permanent", "bad_message"),
    (ValueError("header injection"), False, "permanent", "bad_message"),
    (RuntimeError("bug"), False, "permanent", "unexpected"),
]


@pytest.mark.parametrize(("error", "body_sent", "kind", "code"), CASES)
def test_each_error_is_classified(
    error: BaseException, body_sent: bool, kind: str, code: str
) -> None:
    failure = classify(error, body_sent=body_sent)
    assert (failure.kind.value, failure.code) == (kind, code)
    assert failure.may_pass is (kind != "permanent")
    assert failure.reason.startswith(REASON_LABELS[code])


def test_any_5xx_among_the_recipients_makes_it_final() -> None:
    error = smtplib.SMTPRecipientsRefused({"a@x.org": (451, b"later"), "b@x.org": (550, b"no")})
    assert classify(error, body_sent=False).kind is FailureKind.PERMANENT


def test_a_reply_quoting_the_address_is_masked_in_the_reason() -> None:
    error = smtplib.SMTPRecipientsRefused(
        {ADDRESS: (550, f"5.1.1 <{ADDRESS}>: Recipient address rejected".encode())}
    )
    reason = classify(error, body_sent=False).reason
    assert ADDRESS not in reason and "l***@patients.example.org" in reason
    assert reason.startswith("收件地址被拒收（550 5.1.1")


@given(st.emails())
def test_scrub_leaves_no_address_whole(address: str) -> None:
    text = scrub(f"rejected <{address}> twice: {address}")
    local = address.partition("@")[0]
    # Found whole only when it already looks masked (a***@x, *@x: the mask ends with it).
    assert address not in text or (local[:1] + "***").endswith(local)


def test_every_reason_code_has_a_chinese_label() -> None:
    codes = {code for *_, code in CASES} | {"outcome_lost"}
    assert codes <= set(REASON_LABELS)
    assert all(any("\u4e00" <= c <= "\u9fff" for c in label) for label in REASON_LABELS.values())


# --- backoff arithmetic and retry queues --------------------------------------------------

DELAYS = st.lists(st.floats(min_value=0.001, max_value=86_400), max_size=10).map(tuple)


@given(DELAYS, st.integers(min_value=0, max_value=20))
def test_each_step_is_used_once_then_the_failure_is_final(
    delays: tuple[float, ...], done: int
) -> None:
    pause = retry_delay(done, delays)
    if done < len(delays):
        assert pause == delays[done]
    else:
        assert pause is None


@given(DELAYS)
def test_a_delivery_that_keeps_failing_gets_one_attempt_per_step_plus_the_first(
    delays: tuple[float, ...],
) -> None:
    retries, waited = 0, 0.0
    while (pause := retry_delay(retries, delays)) is not None:
        retries, waited = retries + 1, waited + pause
    assert retries + 1 == most_attempts(delays)
    assert waited == pytest.approx(sum(delays))


def test_the_default_steps_spread_over_about_forty_minutes() -> None:
    from services.notification.settings import NotificationSettings

    delays = NotificationSettings().delivery_retry_delays_seconds
    assert most_attempts(delays) == 5 and 30 * 60 < sum(delays) < 60 * 60


@given(st.floats(min_value=0.0001, max_value=86_400), st.floats(min_value=0.0001, max_value=86_400))
def test_retry_queues_are_named_by_their_delay_in_whole_milliseconds(a: float, b: float) -> None:
    assert delay_milliseconds(a) >= 1
    same = delay_milliseconds(a) == delay_milliseconds(b)
    assert (
        retry_queue_name("p", "notification", a) == retry_queue_name("p", "notification", b)
    ) == same


@dataclass
class FakeQueue:
    name: str
    arguments: dict[str, Any]


@dataclass
class FakeChannel:
    queues: dict[str, FakeQueue] = field(default_factory=dict)

    async def declare_queue(self, name: str, durable: bool, arguments: dict[str, Any]) -> FakeQueue:
        assert durable
        self.queues[name] = FakeQueue(name, arguments)
        return self.queues[name]


async def test_each_step_is_a_quorum_queue_that_dead_letters_back_to_the_service() -> None:
    channel = FakeChannel()
    names = await declare_retry_queues(
        channel,
        prefix="huiyin",
        service="notification",
        delays=(10.0, 60.0, 60.0, 0.25),
    )
    assert names == [
        "huiyin.notification.retry.10000ms",
        "huiyin.notification.retry.60000ms",
        "huiyin.notification.retry.250ms",
    ]
    assert channel.queues[names[0]].arguments == {
        "x-queue-type": "quorum",
        "x-message-ttl": 10_000,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue_name("huiyin", "notification"),
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def test_the_message_id_is_the_same_for_every_attempt_of_a_delivery() -> None:
    sender = "回音投诉平台 <noreply@huiyin.example.org>"
    first = message_id_for("e1:leadership:hz-001-leadership-1", sender)
    assert first == message_id_for("e1:leadership:hz-001-leadership-1", sender)
    assert first == "<e1.leadership.hz-001-leadership-1@huiyin.example.org>"
    assert first != message_id_for("e1:handler", sender)


# --- one delivery's attempts, with stand-ins ----------------------------------------------

EVENT = escalated()
ENVELOPE = envelope(EVENT)


async def test_a_cancelled_consumer_still_records_the_mail_the_server_accepted() -> None:
    stand = Stand(mailer=Mailer(hold=asyncio.Event()))
    consumer = asyncio.create_task(notify(ENVELOPE, EVENT, tracking_url="", ports=stand.ports))
    await asyncio.wait_for(stand.mailer.accepted.wait(), 5)
    consumer.cancel()  # the broker connection closed
    with pytest.raises(asyncio.CancelledError):
        await consumer
    stand.mailer.hold.set()
    await stand.in_flight.drain(timeout=5)
    assert stand.delivery["status"] == "sent"
    assert [e.type for e in stand.relay.published] == ["notification.sent"]
    # The redelivered event finds it sent.
    await notify(ENVELOPE, EVENT, tracking_url="", ports=stand.ports)
    assert len(stand.mailer.sent) == 1


async def test_a_delivery_found_sending_is_recorded_unknown_and_resent_once() -> None:
    stand = Stand()
    owner = {"hospital_id": ENVELOPE.hospital_id, "complaint_id": ENVELOPE.complaint_id}
    await stand.log.claim(f"{ENVELOPE.event_id}:leadership:{LEADER.staff_id}", owner)  # lost
    await notify(ENVELOPE, EVENT, tracking_url="", ports=stand.ports)
    await notify(ENVELOPE, EVENT, tracking_url="", ports=stand.ports)
    assert [h["outcome"] for h in stand.delivery["history"]] == ["unknown", "sent"]
    assert stand.delivery["history"][1]["after_unknown"] is True
    assert stand.delivery["attempts"] == 2 and len(stand.mailer.sent) == 1
    [sent] = stand.relay.published
    assert sent.payload["after_unknown_outcome"] is True and sent.payload["attempts"] == 2


async def test_a_failure_that_may_pass_waits_one_step_each_time_then_fails_for_good() -> None:
    busy = smtplib.SMTPRecipientsRefused({LEADER.email: (451, b"try later")})
    stand = Stand(mailer=Mailer(replies=[busy, busy, busy]))
    for _ in range(3):  # the first attempt, then the event back from each retry queue
        await notify(ENVELOPE, EVENT, tracking_url="", ports=stand.ports)
    assert stand.retries.scheduled == [1, 2]
    assert [h["outcome"] for h in stand.delivery["history"]] == ["retrying", "retrying", "failed"]
    [failed] = stand.relay.published
    assert failed.type == "notification.failed"
    assert failed.payload["attempts"] == 3 and failed.payload["reason_code"] == "deferred"
    assert failed.payload["recipient"] == "v***@hz1.example.org"
    assert stand.mailer.sent == []


async def test_a_5xx_fails_at_once_and_is_never_retried() -> None:
    stand = Stand(
        mailer=Mailer(replies=[smtplib.SMTPRecipientsRefused({LEADER.email: (550, b"unknown")})])
    )
    await notify(ENVELOPE, EVENT, tracking_url="", ports=stand.ports)
    await notify(ENVELOPE, EVENT, tracking_url="", ports=stand.ports)  # redelivered
    assert stand.retries.scheduled == [] and stand.mailer.sent == []
    assert stand.delivery["status"] == DeliveryStatus.FAILED.value
    assert stand.delivery["attempts"] == 1
    assert [e.type for e in stand.relay.published] == ["notification.failed"]


async def test_no_reply_to_the_body_is_unknown_and_every_later_mail_says_it_may_be_a_copy() -> None:
    busy = smtplib.SMTPRecipientsRefused({LEADER.email: (451, b"try later")})
    stand = Stand(
        mailer=Mailer(replies=[(TimeoutError("no reply to the body"), True), busy, None]),
        retries=Retries(delays=(10.0, 60.0, 300.0)),
    )
    for _ in range(3):
        await notify(ENVELOPE, EVENT, tracking_url="", ports=stand.ports)
    history = stand.delivery["history"]
    assert [h["outcome"] for h in history] == ["unknown", "retrying", "sent"]
    assert history[0]["reason_code"] == "timeout" and stand.retries.scheduled == [1, 2]
    assert [h.get("after_unknown", False) for h in history] == [False, True, True]
    [sent] = stand.relay.published
    assert sent.payload["after_unknown_outcome"] is True and sent.payload["attempts"] == 3
