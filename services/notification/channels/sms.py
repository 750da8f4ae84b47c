"""SMS through an HTTP gateway in the shape of Aliyun's SMS API (dysmsapi, version
2017-05-25): `SendSms` with a registered template's code and its variables as JSON, signed
by Aliyun's RPC signature v1 (HMAC-SHA1 over the method, "/" and the sorted,
percent-encoded parameters, keyed by the AccessKey secret + "&"), sent as a form POST.
Most Chinese SMS providers work this way (a signature name, a template code, parameters);
the endpoint, AccessKey and signature name are settings (HUIYIN_SMS_*).

An SMS gateway is not idempotent: a request whose reply was lost (a read timeout after the
request went out) may have been sent, and sending again would text the person twice. So
`resend_after_unknown` is False, and `was_sent` looks the attempt up in the gateway's
records first (`QuerySendDetails` by phone number and day, matched by the `OutId` every
attempt of one delivery carries). The gateway's records can lag a few seconds behind a send:
ask after the next backoff pause, not at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from urllib.parse import quote

from services.notification.channels.http import HttpClient, coded_result, json_body
from services.notification.delivery_policy import (
    SMS_CODES,
    FailureKind,
    SendFailure,
    SendResult,
)
from services.notification.domain.contacts import Address
from services.notification.domain.messages import Message
from shared.contracts import DeliveryChannel

API_VERSION = "2017-05-25"
QUERY_PAGES = 10  # of 50 records: one person's SMS of one day


def percent_encode(text: str) -> str:
    """RFC 3986 as Aliyun's signature requires: only A-Z a-z 0-9 - _ . ~ stay; a space is
    %20, `*` is %2A."""
    return quote(text, safe="~")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    canonical = "&".join(
        f"{percent_encode(key)}={percent_encode(value)}" for key, value in sorted(params.items())
    )
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"


def aliyun_signature(params: Mapping[str, str], secret: str, *, method: str = "POST") -> str:
    digest = hmac.new(
        f"{secret}&".encode(), string_to_sign(method, params).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


def out_id(delivery_id: str) -> str:
    """The gateway's OutId of a delivery: the same for every attempt, short, and telling the
    gateway nothing about the case."""
    return hashlib.sha256(delivery_id.encode()).hexdigest()[:32]


class AliyunSms:
    code = DeliveryChannel.SMS
    resend_after_unknown = False  # look it up first: was_sent

    def __init__(
        self,
        *,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        region_id: str = "cn-hangzhou",
        timeout: float = 10.0,
    ) -> None:
        self._endpoint = endpoint
        self._key_id, self._secret = access_key_id, access_key_secret
        self._sign_name, self._region = sign_name, region_id
        self._http = HttpClient(timeout=timeout)

    def __repr__(self) -> str:
        return f"AliyunSms(endpoint={self._endpoint!r})"

    def signed(self, action: str, params: Mapping[str, str]) -> dict[str, str]:
        """`params` of `action` with the common parameters and their signature."""
        common = {
            "AccessKeyId": self._key_id,
            "Action": action,
            "Format": "JSON",
            "RegionId": self._region,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,  # a gateway refuses a nonce it has seen
            "SignatureVersion": "1.0",
            "Timestamp": datetime.fromtimestamp(time.time(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": API_VERSION,
        }
        fields = common | dict(params)
        return fields | {"Signature": aliyun_signature(fields, self._secret, method="POST")}

    def send(self, message: Message, address: Address, *, delivery_id: str) -> SendResult:
        if message.sms is None:
            return SendResult(SendFailure(FailureKind.PERMANENT, "not_for_channel"))
        if not address.to:
            return SendResult(SendFailure(FailureKind.PERMANENT, "no_address"))
        params = {
            "PhoneNumbers": address.to,
            "SignName": self._sign_name,
            "TemplateCode": message.sms.code,
            "TemplateParam": json.dumps(
                dict(message.sms.params), ensure_ascii=False, separators=(",", ":")
            ),
            "OutId": out_id(delivery_id),
        }
        response = self._http.post(self._endpoint, data=self.signed("SendSms", params))
        return coded_result(
            response,
            field="Code",
            success="OK",
            message_field="Message",
            codes=SMS_CODES,
            receipt_field="BizId",
        )

    def was_sent(self, address: Address, *, delivery_id: str, days: Iterable[date]) -> bool | None:
        """Whether the gateway accepted an attempt of this delivery on one of `days` (China
        dates): True if it holds a record not failed by the carrier, False if it holds none
        or only failed ones, None if it could not be asked (the outcome stays unknown)."""
        wanted = out_id(delivery_id)
        for day in dict.fromkeys(days):
            for page in range(1, QUERY_PAGES + 1):
                records = self._query(address.to, day, page)
                if records is None:
                    return None
                for record in records:
                    failed = str(record.get("SendStatus", "")) == "2"  # 1 waiting, 3 delivered
                    if str(record.get("OutId", "")) == wanted and not failed:
                        return True
                if len(records) < 50:
                    break
        return False

    def _query(self, phone: str, day: date, page: int) -> list[dict[str, object]] | None:
        params = {
            "PhoneNumber": phone,
            "SendDate": day.strftime("%Y%m%d"),
            "PageSize": "50",
            "CurrentPage": str(page),
        }
        response = self._http.post(self._endpoint, data=self.signed("QuerySendDetails", params))
        if isinstance(response, SendFailure) or response.status_code != 200:
            return None
        body = json_body(response)
        if body is None or body.get("Code") != "OK":
            return None
        details = body.get("SmsSendDetailDTOs") or {}
        records = details.get("SmsSendDetailDTO", []) if isinstance(details, dict) else []
        return [r for r in records if isinstance(r, dict)]

    def close(self) -> None:
        self._http.close()
