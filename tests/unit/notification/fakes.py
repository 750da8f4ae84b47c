"""In-process stand-ins for what a delivery uses: the delivery log, the mailer, the outbox
relay and the retry queues (the real ones are exercised in tests/integration), plus the
addresses and message text the notice tests read."""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from services.notification.adapters.mailer import SendFailed, message_id_for
from services.notification.delivery_policy import DeliveryStatus, classify
from services.notification.domain.messages import Message
from services.notification.service import DeliveriesInFlight, DeliveryPorts
from shared.contracts import Envelope

LOWER = "abcdefghijklmnopqrstuvwxyz"
emails = st.builds(
    lambda first, rest, domain: f"{first}{rest}@{domain}.example.org",
    st.sampled_from(LOWER),
    st.text(LOWER + "0123456789._", min_size=3, max_size=14),
    st.text(LOWER, min_size=3, max_size=10),
)


def text_of(message: Message) -> str:
    """All a recipient reads: the address, the subject and the body."""
    return f"{message.to}\n{message.subject}\n{message.body}"


@dataclass
class Relay:
    published: list[Envelope] = field(default_factory=list)

    def notify(self, key: str, envelopes: list[Envelope]) -> None:
        self.published.extend(envelopes)


@dataclass
class Log:
    """The delivery log in a dict; an outcome's event goes to the relay, as the real log's
    records do."""

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    relay: Relay = field(default_factory=Relay)

    async def claim(self, delivery_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        if delivery_id in self.documents:
            return dict(self.documents[delivery_id])
        self.documents[delivery_id] = fields | {
            "status": "sending",
            "attempts": 1,
            "retries": 0,
            "unknown_outcomes": 0,
            "history": [],
        }
        return None

    async def claim_all(
        self, claims: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any] | None]:
        return {key: await self.claim(key, fields) for key, fields in claims.items()}

    async def start_again(
        self, delivery_id: str, existing: dict[str, Any], *, lost: Any = None, **_: Any
    ) -> int:
        if lost is not None:
            await self.mark_unknown(delivery_id, attempt=existing["attempts"], failure=lost)
        return await self.start_attempt(delivery_id, after_unknown=False)

    async def record_outcome(self, delivery_id: str, *, owner: Any, **outcome: Any) -> None:
        await self.finish(delivery_id, **outcome)

    async def mark_unknown(self, delivery_id: str, *, attempt: int, failure: Any) -> None:
        document = self.documents[delivery_id]
        document["status"] = "unknown"
        document["unknown_outcomes"] = document.get("unknown_outcomes", 0) + 1
        document["history"].append({"attempt": attempt, "outcome": "unknown", "code": failure.code})

    async def start_attempt(self, delivery_id: str, *, after_unknown: bool, **_: Any) -> int:
        document = self.documents[delivery_id]
        document |= {"status": "sending", "attempts": document["attempts"] + 1}
        return document["attempts"]

    async def finish(
        self,
        delivery_id: str,
        *,
        status: DeliveryStatus,
        entry: dict[str, Any],
        failure: Any = None,
        retried: bool = False,
        event: Any = None,
        **_: Any,
    ) -> None:
        document = self.documents[delivery_id]
        document |= {"status": status.value, "error": failure.reason if failure else None}
        document["history"].append(entry)
        document["retries"] += int(retried)
        document["unknown_outcomes"] += int(status is DeliveryStatus.UNKNOWN)
        if event is not None:  # published from the delivery's outbox, as the real log does
            envelope = event.envelope(
                hospital_id=document["hospital_id"], complaint_id=document["complaint_id"]
            )
            self.relay.notify(delivery_id, [envelope])


@dataclass
class Mailer:
    """An SMTP server that refuses the addresses in `refuse` for good (550), and otherwise
    answers each attempt from `replies`: None accepts it; an error, or (error, the body was
    sent), refuses it; when they run out, it accepts."""

    refuse: set[str] = field(default_factory=set)
    replies: list[BaseException | tuple[BaseException, bool] | None] = field(default_factory=list)
    sent: list[tuple[Message, str]] = field(default_factory=list)
    accepted: asyncio.Event = field(default_factory=asyncio.Event)
    hold: asyncio.Event | None = None

    def message_id(self, delivery_id: str) -> str:
        return message_id_for(delivery_id, "noreply@huiyin.example.org")

    async def send(self, message: Message, *, message_id: str) -> None:
        if message.to in self.refuse:
            error = smtplib.SMTPRecipientsRefused({message.to: (550, b"no such user")})
            raise SendFailed(classify(error, body_sent=False))
        reply = self.replies.pop(0) if self.replies else None
        if reply is not None:
            error, body_sent = reply if isinstance(reply, tuple) else (reply, False)
            raise SendFailed(classify(error, body_sent=body_sent))
        self.sent.append((message, message_id))
        self.accepted.set()
        if self.hold is not None:  # the worker thread is still returning its answer
            await self.hold.wait()


@dataclass
class Retries:
    delays: tuple[float, ...] = (10.0, 60.0)
    scheduled: list[int] = field(default_factory=list)

    async def schedule(self, envelope: Envelope, *, step: int) -> None:
        self.scheduled.append(step)


@dataclass
class Stand:
    """Everything one delivery uses, as the ports notification's service takes."""

    log: Log = field(default_factory=Log)
    mailer: Mailer = field(default_factory=Mailer)
    relay: Relay = field(default_factory=Relay)
    retries: Retries = field(default_factory=Retries)
    in_flight: DeliveriesInFlight = field(default_factory=DeliveriesInFlight)

    @property
    def ports(self) -> Any:
        self.log.relay = self.relay
        return DeliveryPorts(self.log, self.mailer, self.retries, self.in_flight)

    @property
    def delivery(self) -> dict[str, Any]:
        [document] = self.log.documents.values()
        return document

    @property
    def mailed_to(self) -> list[str]:
        return [message.to for message, _ in self.mailer.sent]
