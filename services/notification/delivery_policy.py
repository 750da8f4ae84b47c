"""What a failed send means, and when to try again. Pure: no I/O.

SMTP says plainly whether trying again can help (RFC 5321 §4.2.1): a 4xx reply means "not
now", a 5xx reply means "never" (a rejected address, a refused message). A connection that
is refused, reset or times out before the message was handed over may pass too. Building
a message that cannot be encoded never passes.

One case has no answer: the connection broke, or the reply never came, after the message
body was sent. The server may have the message. That outcome is *unknown* (结果未知), and so
is an attempt whose outcome was lost because the process stopped between "sent" and
"recorded". E-mail has no exactly-once: an unknown outcome is sent again (the handler must
be told), under the same Message-ID, and the resend is recorded as following an unknown
outcome.

Every reason shown to people or written to logs and events passes through `scrub`: SMTP
replies often quote the recipient's address, which must not leave the delivery log
unmasked.
"""

from __future__ import annotations

import re
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.notification.domain.messages import mask_address


class DeliveryStatus(StrEnum):
    SENDING = "sending"  # an attempt is recorded as started; its outcome is not yet known
    SENT = "sent"
    RETRYING = "retrying"  # failed in a way that may pass; the next attempt is scheduled
    UNKNOWN = "unknown"  # the last attempt's outcome is unknown; it will be sent again
    FAILED = "failed"  # final: no attempt will follow


FINAL = frozenset({DeliveryStatus.SENT, DeliveryStatus.FAILED})


class FailureKind(StrEnum):
    MAY_PASS = "may_pass"  # try again after a pause
    PERMANENT = "permanent"  # trying again cannot help
    UNKNOWN = "unknown"  # the server may have the message; try again (at least once)


# Stable codes (API, storage, events) and the Chinese text people read.
REASON_LABELS: dict[str, str] = {
    "deferred": "邮件服务器暂不接收（稍后重试）",
    "recipient_rejected": "收件地址被拒收",
    "sender_rejected": "发件地址被拒收",
    "message_rejected": "邮件被拒收",
    "server_refused": "邮件服务器拒绝服务",
    "server_unsupported": "邮件服务器不支持该邮件",
    "connection_refused": "无法连接邮件服务器",
    "connection_lost": "与邮件服务器的连接中断",
    "timeout": "邮件服务器响应超时",
    "network": "网络错误",
    "bad_message": "邮件内容无效",
    "outcome_lost": "发送结果未能记录",
    "unexpected": "发送时出现意外错误",
}


@dataclass(frozen=True)
class SendFailure:
    kind: FailureKind
    code: str
    detail: str = ""

    @property
    def label(self) -> str:
        return REASON_LABELS[self.code]

    @property
    def reason(self) -> str:
        """For people: the Chinese label, then what the server or the network said."""
        return f"{self.label}（{self.detail}）" if self.detail else self.label

    @property
    def may_pass(self) -> bool:
        return self.kind is not FailureKind.PERMANENT


OUTCOME_LOST = SendFailure(
    FailureKind.UNKNOWN,
    "outcome_lost",
    "an attempt was started and its outcome never recorded",
)

_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
DETAIL_CHARS = 200


def scrub(text: str) -> str:
    """Mask every e-mail address in `text` (z***@example.org) and keep it short."""
    return _ADDRESS.sub(lambda match: mask_address(match.group(0)), text)[:DETAIL_CHARS]


def _reply_text(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return scrub(f"{code} {text}".strip())


def _by_reply(code: int, text: bytes | str, *, rejected: str) -> SendFailure:
    detail = _reply_text(code, text)
    if 400 <= code < 500:
        return SendFailure(FailureKind.MAY_PASS, "deferred", detail)
    if 500 <= code < 600:
        return SendFailure(FailureKind.PERMANENT, rejected, detail)
    # No proper reply (smtplib uses -1 when the server closed the connection).
    return SendFailure(FailureKind.MAY_PASS, "connection_lost", detail)


def classify(error: BaseException, *, body_sent: bool) -> SendFailure:
    """What `error`, raised by one SMTP attempt, means. `body_sent`: the DATA phase had
    begun, so a missing reply leaves the outcome unknown rather than "not delivered"."""
    lost = FailureKind.UNKNOWN if body_sent else FailureKind.MAY_PASS
    detail = scrub(f"{type(error).__name__}: {error}")
    # smtplib's errors are OSErrors: look at them before the network's.
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        replies = list(error.recipients.values()) or [(550, b"")]
        code, text = max(replies, key=lambda reply: reply[0])  # any 5xx makes it final
        return _by_reply(code, text, rejected="recipient_rejected")
    if isinstance(error, smtplib.SMTPSenderRefused):
        return _by_reply(error.smtp_code, error.smtp_error, rejected="sender_rejected")
    if isinstance(error, smtplib.SMTPDataError):
        return _by_reply(error.smtp_code, error.smtp_error, rejected="message_rejected")
    if isinstance(error, smtplib.SMTPResponseException):  # greeting, HELO, AUTH
        return _by_reply(error.smtp_code, error.smtp_error, rejected="server_refused")
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return SendFailure(lost, "connection_lost", detail)
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return SendFailure(FailureKind.PERMANENT, "server_unsupported", detail)
    if isinstance(error, smtplib.SMTPException):
        return SendFailure(FailureKind.PERMANENT, "server_refused", detail)
    if isinstance(error, ConnectionRefusedError):
        return SendFailure(FailureKind.MAY_PASS, "connection_refused", detail)
    if isinstance(error, TimeoutError):
        return SendFailure(lost, "timeout", detail)
    if isinstance(error, ConnectionError):
        return SendFailure(lost, "connection_lost", detail)
    if isinstance(error, OSError):  # unreachable network, name resolution
        return SendFailure(lost, "network", detail)
    if isinstance(error, (ValueError, TypeError, LookupError)):  # incl. UnicodeError
        return SendFailure(FailureKind.PERMANENT, "bad_message", detail)
    return SendFailure(FailureKind.PERMANENT, "unexpected", detail)


def retry_delay(retries_done: int, delays: Sequence[float]) -> float | None:
    """The pause before the next attempt after `retries_done` scheduled retries, or None
    when every backoff step is used (the failure is then final)."""
    if 0 <= retries_done < len(delays):
        return delays[retries_done]
    return None


def most_attempts(delays: Sequence[float]) -> int:
    """Attempts a delivery that keeps failing in a way that may pass gets: the first
    one and one after each backoff step (an unknown outcome found on redelivery adds one,
    which the broker's delivery limit bounds)."""
    return 1 + len(delays)
