"""What an HTTP channel's attempt came to (delivery_policy.py): sent, a failure that may
pass, a final failure, or an unknown outcome, from the status, the network error or the
service's own code; and which channels may send again after an unknown outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import SecretStr

from services.notification.channels import (
    AliyunSms,
    DingTalkRobot,
    EmailChannel,
    SignedWebhook,
    WeComRobot,
    build_channels,
)
from services.notification.channels.http import coded_result
from services.notification.delivery_policy import (
    DINGTALK_CODES,
    SMS_CODES,
    WECOM_CODES,
    Codes,
    FailureKind,
    SendFailure,
    SendOutcome,
    SendResult,
    classify_code,
    classify_http_error,
    classify_status,
    retry_after_seconds,
    scrub,
)
from services.notification.settings import NotificationSettings
from shared.contracts import DeliveryChannel

MAY_PASS, FINAL, UNKNOWN, SENT = (
    SendOutcome.MAY_PASS,
    SendOutcome.FINAL,
    SendOutcome.UNKNOWN,
    SendOutcome.SENT,
)


def _outcome(failure: SendFailure | None) -> SendOutcome:
    return SendResult(failure).outcome


@pytest.mark.parametrize(
    ("status", "outcome", "code"),
    [
        (200, SENT, None),
        (204, SENT, None),
        (429, MAY_PASS, "rate_limited"),
        (408, MAY_PASS, "service_unavailable"),
        (500, MAY_PASS, "service_unavailable"),
        (502, MAY_PASS, "service_unavailable"),
        (503, MAY_PASS, "service_unavailable"),
        (504, UNKNOWN, "no_reply"),  # the service behind the proxy may have acted
        (400, FINAL, "request_rejected"),
        (401, FINAL, "credentials_rejected"),
        (403, FINAL, "credentials_rejected"),
        (404, FINAL, "address_rejected"),
        (410, FINAL, "address_rejected"),
        (422, FINAL, "request_rejected"),
    ],
)
def test_an_http_status_decides_the_outcome(
    status: int, outcome: SendOutcome, code: str | None
) -> None:
    failure = classify_status(status)
    assert _outcome(failure) is outcome
    assert (failure.code if failure else None) == code


REQUEST = httpx.Request("POST", "http://127.0.0.1:9/robot/send?access_token=secret-token")


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (httpx.ConnectError("refused", request=REQUEST), MAY_PASS),
        (httpx.ConnectTimeout("slow", request=REQUEST), MAY_PASS),
        (httpx.PoolTimeout("pool", request=REQUEST), MAY_PASS),
        (httpx.ProxyError("proxy", request=REQUEST), MAY_PASS),
        (httpx.ReadTimeout("no reply", request=REQUEST), UNKNOWN),  # the request went out
        (httpx.WriteTimeout("stuck", request=REQUEST), UNKNOWN),
        (httpx.ReadError("reset", request=REQUEST), UNKNOWN),
        (httpx.RemoteProtocolError("closed", request=REQUEST), UNKNOWN),
        (httpx.UnsupportedProtocol("ftp", request=REQUEST), FINAL),
        (httpx.InvalidURL("bad"), FINAL),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_a_network_error_before_the_request_went_may_pass_after_it_is_unknown(
    error: httpx.HTTPError, outcome: SendOutcome
) -> None:
    assert _outcome(classify_http_error(error)) is outcome


@pytest.mark.parametrize(
    ("codes", "code", "kind"),
    [
        (SMS_CODES, "isv.BUSINESS_LIMIT_CONTROL", FailureKind.MAY_PASS),
        (SMS_CODES, "isp.SYSTEM_ERROR", FailureKind.MAY_PASS),
        (SMS_CODES, "isv.MOBILE_NUMBER_ILLEGAL", FailureKind.PERMANENT),
        (SMS_CODES, "isv.SMS_TEMPLATE_ILLEGAL", FailureKind.PERMANENT),
        (SMS_CODES, "SignatureDoesNotMatch", FailureKind.PERMANENT),
        (SMS_CODES, "isv.SOMETHING_NEW", FailureKind.PERMANENT),
        (WECOM_CODES, "45009", FailureKind.MAY_PASS),
        (WECOM_CODES, "93000", FailureKind.PERMANENT),
        (WECOM_CODES, "-1", FailureKind.MAY_PASS),
        (DINGTALK_CODES, "130101", FailureKind.MAY_PASS),
        (DINGTALK_CODES, "310000", FailureKind.PERMANENT),
        (DINGTALK_CODES, "999999", FailureKind.PERMANENT),
    ],
)
def test_a_services_own_code_decides_what_follows(
    codes: Codes, code: str, kind: FailureKind
) -> None:
    failure = classify_code(code, "", codes)
    assert failure.kind is kind and failure.label  # every code has a Chinese label


def _robot(response: httpx.Response) -> SendResult:
    return coded_result(
        response, field="errcode", success=0, message_field="errmsg", codes=WECOM_CODES
    )


def _sms(response: httpx.Response) -> SendResult:
    return coded_result(
        response,
        field="Code",
        success="OK",
        message_field="Message",
        codes=SMS_CODES,
        receipt_field="BizId",
    )


def test_a_robots_reply_is_read_by_its_errcode() -> None:
    assert _robot(httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})).outcome is SENT
    limited = _robot(httpx.Response(200, json={"errcode": 45009, "errmsg": "freq"}))
    assert (
        limited.outcome is MAY_PASS and limited.failure and limited.failure.code == "rate_limited"
    )
    refused = _robot(httpx.Response(200, json={"errcode": 93000, "errmsg": "invalid url"}))
    assert refused.outcome is FINAL


def test_a_2xx_that_cannot_be_read_leaves_the_outcome_unknown() -> None:
    result = _robot(httpx.Response(200, content=b"<html>gateway</html>"))
    assert result.outcome is UNKNOWN and result.failure and result.failure.code == "bad_reply"


def test_a_throttling_status_comes_before_the_body_and_says_when_to_come_back() -> None:
    result = _robot(httpx.Response(429, headers={"retry-after": "7"}, json={"errcode": 0}))
    assert result.outcome is MAY_PASS and result.retry_after == 7.0


def test_the_sms_gateway_answers_ok_with_a_receipt_and_refusals_with_its_codes() -> None:
    sent = _sms(httpx.Response(200, json={"Code": "OK", "BizId": "900619746936498440^0"}))
    assert sent.outcome is SENT and sent.receipt == "900619746936498440^0"
    signature = _sms(httpx.Response(400, json={"Code": "SignatureDoesNotMatch"}))
    assert signature.outcome is FINAL and signature.failure
    assert signature.failure.code == "credentials_rejected"
    throttled = _sms(httpx.Response(400, json={"Code": "Throttling.User"}))
    assert throttled.outcome is MAY_PASS
    down = _sms(httpx.Response(503, json={"Code": "ServiceUnavailable"}))
    assert down.outcome is MAY_PASS


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30)), now=now) == 30.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=30)), now=now) == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_reasons_never_carry_addresses_phones_or_credentials() -> None:
    text = scrub(
        "isv.MOBILE_NUMBER_ILLEGAL 13912345678 for zhang.wei@patients.example.org at "
        "http://h/robot/send?access_token=tok123&sign=abc%2B&key=wecomkey"
    )
    for secret in ("13912345678", "zhang.wei", "tok123", "abc%2B", "wecomkey"):
        assert secret not in text
    assert "139****5678" in text and "z***@patients.example.org" in text


def test_a_network_error_detail_hides_the_robots_token() -> None:
    error = httpx.ConnectError("refused http://h/robot/send?access_token=tok123", request=REQUEST)
    assert "tok123" not in classify_http_error(error).reason


@pytest.mark.parametrize(
    ("channel", "resend"),
    [
        (EmailChannel, True),  # the same Message-ID: a mail system drops the copy
        (SignedWebhook, True),  # the same webhook-id: the receiver drops the copy
        (AliyunSms, False),  # not idempotent: looked up first (was_sent)
        (WeComRobot, False),  # no message id: the group would read it twice
        (DingTalkRobot, False),
    ],
)
def test_which_channels_send_again_after_an_unknown_outcome(channel: type, resend: bool) -> None:
    assert channel.resend_after_unknown is resend


def test_sms_is_a_channel_only_with_the_gateways_credentials() -> None:
    assert DeliveryChannel.SMS not in build_channels(NotificationSettings())
    configured = NotificationSettings(
        sms_access_key_id="LTAI", sms_access_key_secret=SecretStr("sms-secret-value")
    )
    channels = build_channels(configured)
    assert set(channels) == set(DeliveryChannel)
    assert "sms-secret-value" not in repr(channels[DeliveryChannel.SMS]) + repr(configured)
