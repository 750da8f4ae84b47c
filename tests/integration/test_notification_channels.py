"""Each channel against a real server standing in for its receiver (tests/support/
http_standins.py, which checks signatures with its own code; aiosmtpd for e-mail): what
arrives, signed as the receiver requires, and what an attempt comes to when the receiver
throttles, fails, refuses or never answers."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from datetime import datetime

import pytest

from services.notification.channels import (
    AliyunSms,
    DingTalkRobot,
    EmailChannel,
    SignedWebhook,
    WeComRobot,
)
from services.notification.channels.email import EmailChannel as _Email
from services.notification.channels.sms import out_id
from services.notification.delivery_policy import SendOutcome, SendResult
from services.notification.domain.contacts import Address
from services.notification.domain.messages import Message
from services.notification.domain.notices import notices_for
from shared.contracts import CHINA, DeliveryChannel, Person
from tests.support import events as sample
from tests.support.http_standins import (
    DingTalkRobotStandIn,
    HospitalWebhookStandIn,
    SmsGatewayStandIn,
    WeComRobotStandIn,
)
from tests.support.mail import MailSink, body_of

LEADER = Person(staff_id="hz-001-leadership-1", name="郑国华", email="vp@hz1.example.org")
LINK = "http://127.0.0.1:8001/v1/complaints/c-0001"
[NOTICE] = notices_for(
    sample.escalated(
        recipients=[LEADER],
        urgent=True,
        due_at=sample.DUE,
        department="finance",
        department_label="财务科",
        overdue_working_days=5,
    ),
    tracking_url="http://127.0.0.1:8001/v1/track/",
    case_link=LINK,
)
DELIVERY = "e-1:leadership:hz-001-leadership-1"
PHONE = "13800000001"
SENT, MAY_PASS, FINAL, UNKNOWN = (
    SendOutcome.SENT,
    SendOutcome.MAY_PASS,
    SendOutcome.FINAL,
    SendOutcome.UNKNOWN,
)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _code(result: SendResult) -> str | None:
    return result.failure.code if result.failure else None


# --- SMS gateway ------------------------------------------------------------------------


@pytest.fixture
def gateway() -> Iterator[SmsGatewayStandIn]:
    with SmsGatewayStandIn() as stand_in:
        yield stand_in


def sms_of(gateway: SmsGatewayStandIn, *, timeout: float = 2.0, secret: str = "") -> AliyunSms:
    return AliyunSms(
        endpoint=gateway.url,
        access_key_id=gateway.access_key_id,
        access_key_secret=secret or gateway.secret,
        sign_name="回音投诉平台",
        timeout=timeout,
    )


PHONE_ADDRESS = Address(DeliveryChannel.SMS, PHONE, key=LEADER.staff_id, shown="138****0001")


def test_an_sms_goes_out_signed_with_its_template_code_and_values(
    gateway: SmsGatewayStandIn,
) -> None:
    result = sms_of(gateway).send(NOTICE, PHONE_ADDRESS, delivery_id=DELIVERY)
    assert result.outcome is SENT and result.receipt
    [sms] = gateway.messages
    assert NOTICE.sms is not None
    assert (sms.phone, sms.sign_name, sms.template_code) == (PHONE, "回音投诉平台", NOTICE.sms.code)
    assert (
        sms.params
        == dict(NOTICE.sms.params)
        == {
            "case": sample.CASE_NUMBER,
            "matter": "院领导督办",
        }
    )
    assert sms.out_id == out_id(DELIVERY) and sms.biz_id == result.receipt


def test_a_gateway_that_refuses_the_signature_is_a_final_failure(
    gateway: SmsGatewayStandIn,
) -> None:
    result = sms_of(gateway, secret="not-the-secret").send(
        NOTICE, PHONE_ADDRESS, delivery_id=DELIVERY
    )
    assert result.outcome is FINAL and _code(result) == "credentials_rejected"
    assert gateway.refusals == ["SignatureDoesNotMatch"] and gateway.messages == []


def test_an_sms_whose_reply_is_lost_is_unknown_and_is_found_in_the_gateways_records(
    gateway: SmsGatewayStandIn,
) -> None:
    gateway.hang_next(1, seconds=10)  # it sends, then never answers in time
    sms = sms_of(gateway, timeout=0.5)
    result = sms.send(NOTICE, PHONE_ADDRESS, delivery_id=DELIVERY)
    assert result.outcome is UNKNOWN and _code(result) == "no_reply"
    assert len(gateway.messages) == 1  # the person has it
    assert sms.resend_after_unknown is False  # so it is looked up, not sent again
    today = datetime.now(CHINA).date()
    assert sms.was_sent(PHONE_ADDRESS, delivery_id=DELIVERY, days=[today]) is True
    assert sms.was_sent(PHONE_ADDRESS, delivery_id="another", days=[today]) is False


def test_an_sms_the_gateway_never_received_is_found_not_sent(
    gateway: SmsGatewayStandIn,
) -> None:
    gateway.hang_next(1, seconds=10, after_accepting=False)
    sms = sms_of(gateway, timeout=0.5)
    assert sms.send(NOTICE, PHONE_ADDRESS, delivery_id=DELIVERY).outcome is UNKNOWN
    today = datetime.now(CHINA).date()
    assert sms.was_sent(PHONE_ADDRESS, delivery_id=DELIVERY, days=[today]) is False
    assert gateway.messages == []


def test_a_throttled_sms_may_pass_and_the_next_attempt_sends_it_once(
    gateway: SmsGatewayStandIn,
) -> None:
    gateway.fail_next(1, status=429)
    sms = sms_of(gateway)
    first = sms.send(NOTICE, PHONE_ADDRESS, delivery_id=DELIVERY)
    assert first.outcome is MAY_PASS and _code(first) == "rate_limited"
    assert sms.send(NOTICE, PHONE_ADDRESS, delivery_id=DELIVERY).outcome is SENT
    assert len(gateway.messages) == 1


def test_a_gateway_failing_three_times_then_accepting_sends_once(
    gateway: SmsGatewayStandIn,
) -> None:
    gateway.fail_next(3, status=500)
    sms = sms_of(gateway)
    outcomes = [sms.send(NOTICE, PHONE_ADDRESS, delivery_id=DELIVERY).outcome for _ in range(4)]
    assert outcomes == [MAY_PASS, MAY_PASS, MAY_PASS, SENT]
    assert len(gateway.messages) == 1


def test_a_number_the_gateway_refuses_is_final_and_the_reason_masks_it(
    gateway: SmsGatewayStandIn,
) -> None:
    gateway.fail_next(1, code="isv.MOBILE_NUMBER_ILLEGAL")
    result = sms_of(gateway).send(NOTICE, PHONE_ADDRESS, delivery_id=DELIVERY)
    assert result.outcome is FINAL and _code(result) == "recipient_invalid"


def test_an_unreachable_gateway_may_pass() -> None:
    sms = AliyunSms(
        endpoint=f"http://127.0.0.1:{closed_port()}/",
        access_key_id="id",
        access_key_secret="s",
        sign_name="回音",
        timeout=1,
    )
    result = sms.send(NOTICE, PHONE_ADDRESS, delivery_id=DELIVERY)
    assert result.outcome is MAY_PASS and _code(result) == "unreachable"


# --- WeCom robot ------------------------------------------------------------------------


@pytest.fixture
def wecom() -> Iterator[WeComRobotStandIn]:
    with WeComRobotStandIn() as stand_in:
        yield stand_in


def group(channel: DeliveryChannel, url: str, secret: str = "") -> Address:
    return Address(channel, url, key="group:office", shown="office", secret=secret)


def test_a_wecom_robot_posts_the_markdown_notice(wecom: WeComRobotStandIn) -> None:
    result = WeComRobot(timeout=2).send(
        NOTICE, group(DeliveryChannel.WECOM, wecom.url), delivery_id=DELIVERY
    )
    assert result.outcome is SENT
    [posted] = wecom.messages
    assert posted == {"msgtype": "markdown", "markdown": {"content": NOTICE.short}}
    content = posted["markdown"]["content"]
    assert sample.CASE_NUMBER in content and f"[查看案件]({LINK})" in content
    assert "院领导督办" in content and "【紧急】" in content


def test_a_wrong_wecom_key_is_final(wecom: WeComRobotStandIn) -> None:
    wrong = wecom.url.replace(wecom.key, "not-the-key")
    result = WeComRobot(timeout=2).send(
        NOTICE, group(DeliveryChannel.WECOM, wrong), delivery_id=DELIVERY
    )
    assert result.outcome is FINAL and _code(result) == "credentials_rejected"
    assert "not-the-key" not in (result.failure.reason if result.failure else "")


def test_the_robots_limit_of_twenty_a_minute_makes_the_next_wait(
    wecom: WeComRobotStandIn,
) -> None:
    robot = WeComRobot(timeout=2)
    address = group(DeliveryChannel.WECOM, wecom.url)
    outcomes = [robot.send(NOTICE, address, delivery_id=f"e-{n}").outcome for n in range(21)]
    assert outcomes == [SENT] * 20 + [MAY_PASS]
    assert len(wecom.messages) == 20


def test_a_wecom_robot_that_hangs_leaves_the_outcome_unknown(wecom: WeComRobotStandIn) -> None:
    wecom.hang_next(1, seconds=10)
    robot = WeComRobot(timeout=0.5)
    result = robot.send(NOTICE, group(DeliveryChannel.WECOM, wecom.url), delivery_id=DELIVERY)
    assert result.outcome is UNKNOWN and robot.resend_after_unknown is False
    assert len(wecom.messages) == 1


# --- DingTalk robot ---------------------------------------------------------------------


@pytest.fixture
def dingtalk() -> Iterator[DingTalkRobotStandIn]:
    with DingTalkRobotStandIn(secret="SEC" + "0f" * 32) as stand_in:
        yield stand_in


def test_a_dingtalk_robot_checks_the_signed_timestamp_and_posts(
    dingtalk: DingTalkRobotStandIn,
) -> None:
    address = group(DeliveryChannel.DINGTALK, dingtalk.url, dingtalk.secret)
    result = DingTalkRobot(timeout=2).send(NOTICE, address, delivery_id=DELIVERY)
    assert result.outcome is SENT, dingtalk.refusals
    [posted] = dingtalk.messages
    assert posted["markdown"] == {"title": NOTICE.subject, "text": NOTICE.short}


def test_a_wrong_dingtalk_secret_is_refused_and_final(dingtalk: DingTalkRobotStandIn) -> None:
    address = group(DeliveryChannel.DINGTALK, dingtalk.url, "SECnot-the-secret")
    result = DingTalkRobot(timeout=2).send(NOTICE, address, delivery_id=DELIVERY)
    assert result.outcome is FINAL and _code(result) == "credentials_rejected"
    assert dingtalk.refusals == ["sign"] and dingtalk.messages == []


def test_a_dingtalk_robot_failing_then_accepting_posts_once(
    dingtalk: DingTalkRobotStandIn,
) -> None:
    dingtalk.fail_next(1, status=500)
    dingtalk.fail_next(1, code="130101")  # send too fast
    robot = DingTalkRobot(timeout=2)
    address = group(DeliveryChannel.DINGTALK, dingtalk.url, dingtalk.secret)
    outcomes = [robot.send(NOTICE, address, delivery_id=DELIVERY).outcome for _ in range(3)]
    assert outcomes == [MAY_PASS, MAY_PASS, SENT] and len(dingtalk.messages) == 1


# --- a hospital system's webhook ----------------------------------------------------------


@pytest.fixture
def hospital() -> Iterator[HospitalWebhookStandIn]:
    with HospitalWebhookStandIn() as stand_in:
        yield stand_in


def test_a_hospital_system_verifies_the_standard_webhook_signature(
    hospital: HospitalWebhookStandIn,
) -> None:
    address = group(DeliveryChannel.WEBHOOK, hospital.url, hospital.secret)
    result = SignedWebhook(timeout=2).send(NOTICE, address, delivery_id=DELIVERY)
    assert result.outcome is SENT, hospital.refusals
    [payload] = hospital.messages
    assert payload["type"] == "complaint.escalated"
    data = payload["data"]
    assert (data["audience"], data["level"]) == ("leadership", "leadership")
    assert data["facts"]["case_number"] == sample.CASE_NUMBER and data["facts"]["link"] == LINK
    assert "lina" not in str(payload)  # a staff notice: nothing of the complainant


def test_a_webhook_retried_keeps_its_id_so_the_receiver_drops_a_repeat(
    hospital: HospitalWebhookStandIn,
) -> None:
    hospital.fail_next(1, status=503)
    webhook = SignedWebhook(timeout=2)
    address = group(DeliveryChannel.WEBHOOK, hospital.url, hospital.secret)
    first = webhook.send(NOTICE, address, delivery_id=DELIVERY)
    assert first.outcome is MAY_PASS
    assert webhook.send(NOTICE, address, delivery_id=DELIVERY).outcome is SENT
    assert len(set(hospital.ids)) == 1 and len(hospital.ids) == 2


def test_a_webhook_that_hangs_is_unknown_and_is_simply_sent_again(
    hospital: HospitalWebhookStandIn,
) -> None:
    hospital.hang_next(1, seconds=10)
    webhook = SignedWebhook(timeout=0.5)
    address = group(DeliveryChannel.WEBHOOK, hospital.url, hospital.secret)
    assert webhook.send(NOTICE, address, delivery_id=DELIVERY).outcome is UNKNOWN
    assert webhook.resend_after_unknown is True
    assert webhook.send(NOTICE, address, delivery_id=DELIVERY).outcome is SENT
    assert len(hospital.accepted) == 2 and len(set(hospital.ids)) == 1


def test_a_webhook_signed_with_another_secret_is_refused_and_final(
    hospital: HospitalWebhookStandIn,
) -> None:
    other = "whsec_" + base64.b64encode(b"some-other-secret-of-32-bytes!!!").decode()
    address = group(DeliveryChannel.WEBHOOK, hospital.url, other)
    result = SignedWebhook(timeout=2).send(NOTICE, address, delivery_id=DELIVERY)
    assert result.outcome is FINAL and _code(result) == "credentials_rejected"
    assert hospital.refusals == ["signature"]


# --- e-mail -------------------------------------------------------------------------------


async def test_the_e_mail_channel_hands_the_notice_to_the_smtp_server(mail: MailSink) -> None:
    channel = EmailChannel(host="127.0.0.1", port=mail.port, sender="回音 <noreply@h.example.org>")
    address = Address(DeliveryChannel.EMAIL, "vp@hz1.example.org", key=LEADER.staff_id, shown="v")
    assert channel.send(NOTICE, address, delivery_id=DELIVERY).outcome is SENT
    [letter] = await mail.wait_for(lambda m: m["To"] == "vp@hz1.example.org")
    assert letter["Subject"] == NOTICE.subject and letter["Message-ID"] == channel.message_id(
        DELIVERY
    )
    assert f"查看案件：{LINK}" in body_of(letter)


def test_e_mail_to_a_server_that_is_not_there_may_pass() -> None:
    channel: _Email = EmailChannel(host="127.0.0.1", port=closed_port(), sender="n@h.example.org")
    address = Address(DeliveryChannel.EMAIL, "vp@hz1.example.org", key="x", shown="v")
    result = channel.send(NOTICE, address, delivery_id=DELIVERY)
    assert result.outcome is MAY_PASS and _code(result) == "connection_refused"


def test_a_notice_without_a_form_for_the_channel_is_not_sent() -> None:
    bare = Message(role=NOTICE.role, to=None, subject="s", body="b")
    result = WeComRobot().send(
        bare, group(DeliveryChannel.WECOM, "http://127.0.0.1:9/"), delivery_id="x"
    )
    assert result.outcome is FINAL and _code(result) == "not_for_channel"
