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

The HTTP channels (SMS gateway, group robots, hospital webhooks) are read the same way
(`classify_http_error`, `classify_status`, and the services' own codes in `SMS_CODES`,
`WECOM_CODES`, `DINGTALK_CODES`): 2xx is sent; 429, 500, 502, 503 and a refused or timed
out connection may pass; another 4xx is final. A request sent whose reply never came (read
timeout, connection dropped, a proxy's 504) has an unknown outcome. Whether a channel may
then send again is the channel's to say (`resend_after_unknown`): e-mail and webhooks
carry an id the receiver drops duplicates by; an SMS gateway and a group robot have none,
so an unknown SMS is first looked up in the gateway's records (channels/sms.py), never
sent again blindly.
"""

from __future__ import annotations

import re
import smtplib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

import httpx

from services.notification.domain.messages import mask_address, mask_phone


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
    # HTTP channels (SMS gateway, group robots, hospital webhooks)
    "rate_limited": "发送过于频繁，对方限流（稍后重试）",
    "service_unavailable": "接收服务暂不可用（稍后重试）",
    "unreachable": "无法连接接收服务",
    "no_reply": "接收服务未应答，发送结果未知",
    "credentials_rejected": "签名或密钥未通过对方校验",
    "address_rejected": "接收地址无效或已停用",
    "request_rejected": "发送请求被对方拒绝",
    "recipient_invalid": "手机号码无效",
    "template_rejected": "短信模板、签名或参数未通过校验",
    "account_refused": "短信账户不可用（余额、资质或权限）",
    "bad_reply": "接收服务的应答无法识别",
    "no_address": "该渠道没有收件地址",
    "not_for_channel": "该通知没有此渠道的格式",
    # the ladder's deliveries (services/notification/deliveries/)
    "unknown_outcome": "发送结果未知",
    "unknown_not_resent": "短信发送结果未知且网关无法确认，为免重复未再发送",
    "channel_unavailable": "该渠道未配置或联系方式缺失",
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
_PHONE = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)")
_CREDENTIAL = re.compile(
    r"((?:key|access_token|sign|signature|accesskeyid)=)[^&\s\"']+", re.IGNORECASE
)
DETAIL_CHARS = 200


def scrub(text: str) -> str:
    """Mask every e-mail address (z***@example.org) and mobile number (139****1111) in
    `text`, hide credentials a URL may carry (a robot's key, a signature), keep it short."""
    text = _ADDRESS.sub(lambda match: mask_address(match.group(0)), text)
    text = _PHONE.sub(lambda match: mask_phone(match.group(0)), text)
    return _CREDENTIAL.sub(r"\1***", text)[:DETAIL_CHARS]


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


# --- HTTP channels ----------------------------------------------------------------------


class SendOutcome(StrEnum):
    SENT = "sent"
    MAY_PASS = "may_pass"  # not delivered; trying again later may work
    FINAL = "final"  # not delivered; trying again cannot help
    UNKNOWN = "unknown"  # the receiver may have it


@dataclass(frozen=True)
class SendResult:
    """What one attempt through one channel came to. `receipt`: the receiver's id of what
    it accepted (an SMS BizId), for the log; `retry_after`: the pause the receiver asked for
    (seconds), if it said one."""

    failure: SendFailure | None = None
    receipt: str = ""
    retry_after: float | None = None

    @property
    def outcome(self) -> SendOutcome:
        if self.failure is None:
            return SendOutcome.SENT
        return {
            FailureKind.MAY_PASS: SendOutcome.MAY_PASS,
            FailureKind.PERMANENT: SendOutcome.FINAL,
            FailureKind.UNKNOWN: SendOutcome.UNKNOWN,
        }[self.failure.kind]


SENT = SendResult()


def classify_http_error(error: httpx.HTTPError | httpx.InvalidURL) -> SendFailure:
    """What an exception from one HTTP attempt means. Before the request was written (no
    connection, no pooled slot) nothing reached the receiver: it may pass. Once it was being
    written or awaited, the receiver may have acted on it: unknown."""
    detail = scrub(f"{type(error).__name__}: {error}")
    if isinstance(error, httpx.ConnectTimeout | httpx.PoolTimeout):
        return SendFailure(FailureKind.MAY_PASS, "unreachable", detail)
    if isinstance(error, httpx.ConnectError | httpx.ProxyError):
        return SendFailure(FailureKind.MAY_PASS, "unreachable", detail)
    if isinstance(error, httpx.TimeoutException):  # write or read timeout: the request went
        return SendFailure(FailureKind.UNKNOWN, "no_reply", detail)
    if isinstance(error, httpx.TransportError):  # reset, closed without a reply, protocol
        if isinstance(error, httpx.UnsupportedProtocol):
            return SendFailure(FailureKind.PERMANENT, "address_rejected", detail)
        return SendFailure(FailureKind.UNKNOWN, "no_reply", detail)
    if isinstance(error, httpx.InvalidURL | httpx.TooManyRedirects):
        return SendFailure(FailureKind.PERMANENT, "address_rejected", detail)
    return SendFailure(FailureKind.PERMANENT, "unexpected", detail)


def classify_status(status: int, detail: str = "") -> SendFailure | None:
    """What an HTTP status means for a send (None: accepted). A proxy's 504 means the
    service behind it may have acted: unknown."""
    text = scrub(f"HTTP {status} {detail}".strip())
    if 200 <= status < 300:
        return None
    if status == 429:
        return SendFailure(FailureKind.MAY_PASS, "rate_limited", text)
    if status == 504:
        return SendFailure(FailureKind.UNKNOWN, "no_reply", text)
    if status in (408, 500, 502, 503):
        return SendFailure(FailureKind.MAY_PASS, "service_unavailable", text)
    if status in (401, 403):
        return SendFailure(FailureKind.PERMANENT, "credentials_rejected", text)
    if status in (404, 410):
        return SendFailure(FailureKind.PERMANENT, "address_rejected", text)
    if status >= 500:
        return SendFailure(FailureKind.MAY_PASS, "service_unavailable", text)
    return SendFailure(FailureKind.PERMANENT, "request_rejected", text)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from now, if readable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


# A service's own codes in a 200 reply: (kind, reason code). A code not listed is final: the
# request reached the service and it refused, and for channels without an idempotency key
# sending again risks a duplicate.
Codes = Mapping[str, tuple[FailureKind, str]]

# Aliyun SMS (dysmsapi SendSms `Code`).
SMS_CODES: Codes = {
    "isv.BUSINESS_LIMIT_CONTROL": (FailureKind.MAY_PASS, "rate_limited"),
    "Throttling": (FailureKind.MAY_PASS, "rate_limited"),
    "Throttling.User": (FailureKind.MAY_PASS, "rate_limited"),
    "isp.SYSTEM_ERROR": (FailureKind.MAY_PASS, "service_unavailable"),
    "ServiceUnavailable": (FailureKind.MAY_PASS, "service_unavailable"),
    "isv.MOBILE_NUMBER_ILLEGAL": (FailureKind.PERMANENT, "recipient_invalid"),
    "isv.MOBILE_COUNT_OVER_LIMIT": (FailureKind.PERMANENT, "recipient_invalid"),
    "isv.BLACK_KEY_CONTROL_LIMIT": (FailureKind.PERMANENT, "recipient_invalid"),
    "isv.SMS_TEMPLATE_ILLEGAL": (FailureKind.PERMANENT, "template_rejected"),
    "isv.SMS_SIGNATURE_ILLEGAL": (FailureKind.PERMANENT, "template_rejected"),
    "isv.TEMPLATE_MISSING_PARAMETERS": (FailureKind.PERMANENT, "template_rejected"),
    "isv.TEMPLATE_PARAMS_ILLEGAL": (FailureKind.PERMANENT, "template_rejected"),
    "isv.PARAM_LENGTH_LIMIT": (FailureKind.PERMANENT, "template_rejected"),
    "isv.INVALID_PARAMETERS": (FailureKind.PERMANENT, "template_rejected"),
    "isv.INVALID_JSON_PARAM": (FailureKind.PERMANENT, "template_rejected"),
    "isv.AMOUNT_NOT_ENOUGH": (FailureKind.PERMANENT, "account_refused"),
    "isv.OUT_OF_SERVICE": (FailureKind.PERMANENT, "account_refused"),
    "isv.ACCOUNT_NOT_EXISTS": (FailureKind.PERMANENT, "account_refused"),
    "isv.ACCOUNT_ABNORMAL": (FailureKind.PERMANENT, "account_refused"),
    "isp.RAM_PERMISSION_DENY": (FailureKind.PERMANENT, "account_refused"),
    "SignatureDoesNotMatch": (FailureKind.PERMANENT, "credentials_rejected"),
    "SignatureNonceUsed": (FailureKind.PERMANENT, "credentials_rejected"),
    "InvalidTimeStamp.Expired": (FailureKind.PERMANENT, "credentials_rejected"),
    "InvalidAccessKeyId.NotFound": (FailureKind.PERMANENT, "credentials_rejected"),
}

# WeCom group robot (`errcode`).
WECOM_CODES: Codes = {
    "45009": (FailureKind.MAY_PASS, "rate_limited"),  # api freq out of limit (20/min)
    "-1": (FailureKind.MAY_PASS, "service_unavailable"),  # system busy
    "93000": (FailureKind.PERMANENT, "credentials_rejected"),  # invalid webhook url (key)
    "93004": (FailureKind.PERMANENT, "address_rejected"),  # robot removed from the group
    "44004": (FailureKind.PERMANENT, "bad_message"),  # empty content
    "40008": (FailureKind.PERMANENT, "bad_message"),  # invalid message type
    "40058": (FailureKind.PERMANENT, "bad_message"),  # invalid parameter
}

# DingTalk group robot (`errcode`).
DINGTALK_CODES: Codes = {
    "130101": (FailureKind.MAY_PASS, "rate_limited"),  # send too fast (20/min)
    "410100": (FailureKind.MAY_PASS, "rate_limited"),  # limited for a while after too many
    "-1": (FailureKind.MAY_PASS, "service_unavailable"),  # system busy
    "310000": (FailureKind.PERMANENT, "credentials_rejected"),  # sign, keyword or IP refused
    "300001": (FailureKind.PERMANENT, "credentials_rejected"),  # token missing or wrong
    "400102": (FailureKind.PERMANENT, "address_rejected"),  # robot disabled
    "400013": (FailureKind.PERMANENT, "address_rejected"),  # group dissolved
    "40035": (FailureKind.PERMANENT, "bad_message"),  # missing parameter
}


def classify_code(code: str, message: str, codes: Codes) -> SendFailure:
    """A service's refusal in its own words (`code` not a success)."""
    kind, reason = codes.get(code, (FailureKind.PERMANENT, "request_rejected"))
    return SendFailure(kind, reason, scrub(f"{code} {message}".strip()))
