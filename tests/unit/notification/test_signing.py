"""Signing, checked against the published vectors where there are some (Aliyun's SMS API
documentation, the Standard Webhooks specification) and against an independent HMAC
(the `cryptography` package's, not the standard library's) for DingTalk, whose
documentation gives the method but no vector."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notification.channels.dingtalk import dingtalk_sign, signed_url
from services.notification.channels.sms import (
    AliyunSms,
    aliyun_signature,
    out_id,
    percent_encode,
    string_to_sign,
)
from services.notification.channels.webhook import webhook_id, webhook_signature
from services.notification.domain.contacts import webhook_key

# Aliyun SMS API documentation, "签名机制" example (SendSms, GET, Format=XML).
ALIYUN_DOC_PARAMS = {
    "AccessKeyId": "testId",
    "Action": "SendSms",
    "Format": "XML",
    "OutId": "123",
    "PhoneNumbers": "15300000001",
    "RegionId": "cn-hangzhou",
    "SignName": "阿里云短信测试专用",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
    "SignatureVersion": "1.0",
    "TemplateCode": "SMS_71390007",
    "TemplateParam": '{"customer":"test"}',
    "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}
ALIYUN_DOC_STRING_TO_SIGN = (
    "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123"
    "%26PhoneNumbers%3D15300000001%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF"
    "%25E9%2587%258C%25E4%25BA%2591%25E7%259F%25AD%25E4%25BF%25A1%25E6%25B5%258B%25E8"
    "%25AF%2595%25E4%25B8%2593%25E7%2594%25A8%26SignatureMethod%3DHMAC-SHA1"
    "%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466%26SignatureVersion%3D1.0"
    "%26TemplateCode%3DSMS_71390007%26TemplateParam%3D%257B%2522customer%2522%253A"
    "%2522test%2522%257D%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25"
)


def test_the_aliyun_signature_reproduces_the_documented_example() -> None:
    assert string_to_sign("GET", ALIYUN_DOC_PARAMS) == ALIYUN_DOC_STRING_TO_SIGN
    assert aliyun_signature(ALIYUN_DOC_PARAMS, "testSecret", method="GET") == (
        "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    )


@pytest.mark.parametrize(
    ("text", "encoded"),
    [("a b", "a%20b"), ("*", "%2A"), ("~-_.", "~-_."), ("+/=", "%2B%2F%3D"), ("回", "%E5%9B%9E")],
)
def test_percent_encoding_is_rfc3986_as_aliyun_requires(text: str, encoded: str) -> None:
    assert percent_encode(text) == encoded


def test_each_signed_request_has_a_fresh_nonce_and_a_signature_over_all_of_it() -> None:
    sms = AliyunSms(
        endpoint="http://127.0.0.1:1/", access_key_id="id", access_key_secret="s", sign_name="回音"
    )
    first = sms.signed("SendSms", {"PhoneNumbers": "13800000001"})
    second = sms.signed("SendSms", {"PhoneNumbers": "13800000001"})
    assert first["SignatureNonce"] != second["SignatureNonce"]
    assert {"AccessKeyId", "Action", "Format", "Timestamp", "Version", "RegionId"} <= set(first)
    unsigned = {k: v for k, v in first.items() if k != "Signature"}
    assert first["Signature"] == aliyun_signature(unsigned, "s", method="POST")


def test_the_standard_webhooks_signature_reproduces_the_specifications_vector() -> None:
    signature = webhook_signature(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    "secret",
    [
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # no prefix
        "whsec_not base64!",
        "whsec_" + base64.b64encode(b"short").decode(),
        "whsec_" + base64.b64encode(b"x" * 65).decode(),
    ],
    ids=["no-prefix", "not-base64", "too-short", "too-long"],
)
def test_a_webhook_secret_must_be_whsec_base64_of_24_to_64_bytes(secret: str) -> None:
    with pytest.raises(ValueError, match="webhook secret"):
        webhook_key(secret)


def _independent_dingtalk_sign(secret: str, timestamp: int) -> str:
    mac = crypto_hmac.HMAC(secret.encode(), hashes.SHA256())
    mac.update(f"{timestamp}\n{secret}".encode())
    return base64.b64encode(mac.finalize()).decode()


@settings(max_examples=60, deadline=None)
@given(
    secret=st.text("ABCDEFabcdef0123456789", min_size=8, max_size=64).map(lambda s: "SEC" + s),
    timestamp=st.integers(min_value=1_600_000_000_000, max_value=4_000_000_000_000),
)
def test_the_dingtalk_sign_is_hmac_sha256_of_timestamp_and_secret(
    secret: str, timestamp: int
) -> None:
    expected = _independent_dingtalk_sign(secret, timestamp)
    assert dingtalk_sign(secret, timestamp) == expected
    url = signed_url("https://oapi.dingtalk.com/robot/send?access_token=t", secret, timestamp)
    query = parse_qs(urlsplit(url).query)
    # URL-encoded: '+', '/' and '=' of the base64 survive the trip (DingTalk decodes once).
    assert query == {"access_token": ["t"], "timestamp": [str(timestamp)], "sign": [expected]}
    assert "+" not in urlsplit(url).query


def test_the_dingtalk_sign_of_a_fixed_timestamp_and_secret() -> None:
    # Computed once by the independent HMAC above, kept so a change of method shows.
    sign = dingtalk_sign("SEC0123456789abcdef", 1_700_000_000_000)
    assert sign == _independent_dingtalk_sign("SEC0123456789abcdef", 1_700_000_000_000)
    assert len(base64.b64decode(sign)) == 32


def test_one_delivery_keeps_its_ids_across_attempts_and_two_deliveries_differ() -> None:
    assert webhook_id("e-1:leadership:hz-001-leadership-1") == webhook_id(
        "e-1:leadership:hz-001-leadership-1"
    )
    assert webhook_id("e-1:leadership:a") != webhook_id("e-1:leadership:b")
    assert webhook_id("e-1:x").startswith("msg_") and "." not in webhook_id("e-1:x")
    assert out_id("e-1:x") == out_id("e-1:x") != out_id("e-2:x")
    assert len(out_id("e-1:x")) == 32 and "e-1" not in out_id("e-1:x")
