"""Real HTTP servers standing in for the services notification posts to: an SMS gateway in
Aliyun's shape, a WeCom group robot, a DingTalk group robot and a hospital system's
webhook endpoint. Each checks what the real one checks (Aliyun's RPC signature and nonce,
the robot's key or DingTalk's signed timestamp, Standard Webhooks' signature) with its own
code, not the platform's, answers as the real one answers, and records every request.

A test can make the next requests fail (`fail_next`: a status such as 429 or 500, or the
service's own error code), hang past the client's timeout (`hang_next`: by default after
accepting, so the service has the message and the reply is lost, the case that makes an
outcome unknown), or limit the rate (`per_minute`, as the robots' 20 a minute).

    with SmsGatewayStandIn() as gateway:
        gateway.fail_next(3, status=500)
        ...
        [sms] = gateway.messages
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, quote, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from shared.contracts import CHINA


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None  # JSON; None: empty
    accepted: bool = False  # the service took it (sent the SMS, posted to the group)
    refusal: str = ""  # why not, as the stand-in saw it


@dataclass(frozen=True)
class Received:
    request: Request
    reply: Reply
    at: float


@dataclass
class _Failure:
    status: int
    code: str | None


@dataclass
class _Hang:
    seconds: float
    after_accepting: bool


class StandIn:
    """A threaded HTTP server on a free port; subclasses answer (`handle`)."""

    def __init__(self, *, port: int = 0, per_minute: int | None = None) -> None:
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._plan: deque[_Failure | _Hang] = deque()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # hanging requests answer now
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- what a test tells it and reads ------------------------------------------------

    def fail_next(self, count: int = 1, *, status: int = 500, code: str | None = None) -> None:
        """The next `count` requests fail with `status`, or (with `code`) with HTTP 200 and
        the service's own error code; nothing is accepted."""
        with self._lock:
            self._plan.extend(_Failure(status, code) for _ in range(count))

    def hang_next(
        self, count: int = 1, *, seconds: float = 30.0, after_accepting: bool = True
    ) -> None:
        """The next `count` requests get their reply only after `seconds` (or at stop):
        past the client's timeout. `after_accepting`: the service took the request first
        (the message went out; only the reply is lost)."""
        with self._lock:
            self._plan.extend(_Hang(seconds, after_accepting) for _ in range(count))

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.reply.accepted]

    @property
    def refusals(self) -> list[str]:
        return [r.reply.refusal for r in self.received if r.reply.refusal]

    def wait_for(self, count: int, *, timeout: float = 10.0) -> list[Received]:
        """Block until `count` requests were accepted (an SMS sent, a post to the group)."""
        deadline = time.monotonic() + timeout
        while len(accepted := self.accepted) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{type(self).__name__}: {len(accepted)} of {count} accepted")
            time.sleep(0.02)
        return accepted

    # --- serving ------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def failure_reply(self, status: int, code: str | None) -> Reply:
        return Reply(status, {"error": code or status}, refusal=f"told to fail with {status}")

    def rate_limited_reply(self) -> Reply:
        return Reply(429, {"error": "rate limited"}, refusal="rate limited")

    def _serve(self, request: Request) -> tuple[Reply, float]:
        with self._lock:
            step = self._plan.popleft() if self._plan else None
            recent = [r for r in self._received if r.reply.accepted and r.at > time.time() - 60]
            limited = self.per_minute is not None and len(recent) >= self.per_minute
        hang = 0.0
        if isinstance(step, _Failure):
            reply = self.failure_reply(step.status, step.code)
        elif isinstance(step, _Hang):
            hang = step.seconds
            reply = self.handle(request) if step.after_accepting else Reply(504, refusal="hung")
        elif limited:
            reply = self.rate_limited_reply()
        else:
            reply = self.handle(request)
        with self._lock:
            self._received.append(Received(request, reply, time.time()))
        return reply, hang

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                reply, hang = stand_in._serve(request)
                if hang:
                    stand_in._release.wait(hang)
                payload = b"" if reply.body is None else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up waiting

            do_GET = do_POST = _answer  # noqa: N815 (http.server's names)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Quiet: tests read `received` instead."""

        return Handler


# --- the SMS gateway (Aliyun dysmsapi 2017-05-25) ------------------------------------------


def _rfc3986(text: str) -> str:
    return quote(text, safe="")  # everything but A-Z a-z 0-9 - _ . ~


def _aliyun_expected(method: str, params: dict[str, str], secret: str) -> str:
    pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
    canonical = "&".join(_rfc3986(k) + "=" + _rfc3986(v) for k, v in pairs)
    to_sign = "&".join((method, _rfc3986("/"), _rfc3986(canonical)))
    mac = crypto_hmac.HMAC(f"{secret}&".encode(), hashes.SHA1())
    mac.update(to_sign.encode())
    return base64.b64encode(mac.finalize()).decode()


@dataclass(frozen=True)
class SentSms:
    phone: str
    sign_name: str
    template_code: str
    params: dict[str, str]
    out_id: str
    biz_id: str
    day: str  # YYYYMMDD, China


class SmsGatewayStandIn(StandIn):
    """Aliyun's SMS API: SendSms and QuerySendDetails, signed (RPC v1, HMAC-SHA1)."""

    def __init__(
        self,
        *,
        access_key_id: str = "LTAI-test-key",
        secret: str = "test-secret-not-real",
        port: int = 0,
    ) -> None:
        super().__init__(port=port)
        self.access_key_id, self.secret = access_key_id, secret
        self.sent: list[SentSms] = []
        self._nonces: set[str] = set()

    @property
    def url(self) -> str:
        return f"{self.base_url}/"

    @property
    def messages(self) -> list[SentSms]:
        with self._lock:
            return list(self.sent)

    def failure_reply(self, status: int, code: str | None) -> Reply:
        if code is not None:
            return Reply(200, {"Code": code, "Message": code}, refusal=f"told to answer {code}")
        named = {429: "Throttling.User", 500: "isp.SYSTEM_ERROR", 503: "ServiceUnavailable"}
        body = {"Code": named.get(status, "Error"), "Message": "stand-in told to fail"}
        return Reply(status, body, refusal=f"told to fail with {status}")

    def _refuse(self, status: int, code: str) -> Reply:
        return Reply(status, {"Code": code, "Message": code}, refusal=code)

    def handle(self, request: Request) -> Reply:
        params = request.form() if request.method == "POST" else dict(request.query)
        if params.get("AccessKeyId") != self.access_key_id:
            return self._refuse(404, "InvalidAccessKeyId.NotFound")
        if params.get("Signature") != _aliyun_expected(request.method, params, self.secret):
            return self._refuse(400, "SignatureDoesNotMatch")
        stamp = datetime.strptime(params.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%SZ")
        if abs(stamp.replace(tzinfo=UTC) - datetime.now(UTC)) > timedelta(minutes=15):
            return self._refuse(400, "InvalidTimeStamp.Expired")
        nonce = params.get("SignatureNonce", "")
        with self._lock:
            used = nonce in self._nonces
            self._nonces.add(nonce)
        if used or not nonce:
            return self._refuse(400, "SignatureNonceUsed")
        action = params.get("Action")
        if action == "SendSms":
            return self._send(params)
        if action == "QuerySendDetails":
            return self._query(params)
        return self._refuse(400, "InvalidAction.NotFound")

    def _send(self, params: dict[str, str]) -> Reply:
        phone = params.get("PhoneNumbers", "")
        if not re.fullmatch(r"(\+?86)?1[3-9]\d{9}", phone):
            return Reply(200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL"}, refusal="bad phone")
        if not params.get("SignName") or not params.get("TemplateCode"):
            return Reply(200, {"Code": "isv.INVALID_PARAMETERS"}, refusal="missing template")
        try:
            values = json.loads(params.get("TemplateParam", "{}"))
        except ValueError:
            return Reply(200, {"Code": "isv.INVALID_JSON_PARAM"}, refusal="bad TemplateParam")
        biz_id = uuid.uuid4().hex[:20]
        sms = SentSms(
            phone=phone,
            sign_name=params["SignName"],
            template_code=params["TemplateCode"],
            params={str(k): str(v) for k, v in values.items()},
            out_id=params.get("OutId", ""),
            biz_id=biz_id,
            day=datetime.now(CHINA).strftime("%Y%m%d"),
        )
        with self._lock:
            self.sent.append(sms)
        body = {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": str(uuid.uuid4())}
        return Reply(200, body, accepted=True)

    def _query(self, params: dict[str, str]) -> Reply:
        size, page = int(params.get("PageSize", "10")), int(params.get("CurrentPage", "1"))
        with self._lock:
            found = [
                s
                for s in self.sent
                if s.phone == params.get("PhoneNumber") and s.day == params.get("SendDate")
            ]
        shown = found[(page - 1) * size : page * size]
        records = [
            {
                "OutId": s.out_id,
                "PhoneNum": s.phone,
                "SendStatus": 3,
                "ErrCode": "DELIVERED",
                "TemplateCode": s.template_code,
            }
            for s in shown
        ]
        body = {
            "Code": "OK",
            "TotalCount": len(found),
            "SmsSendDetailDTOs": {"SmsSendDetailDTO": records},
        }
        return Reply(200, body)


# --- group robots -----------------------------------------------------------------------


class _Robot(StandIn):
    limit_code = 0

    def failure_reply(self, status: int, code: str | None) -> Reply:
        if code is not None:
            return Reply(200, {"errcode": int(code), "errmsg": "stand-in"}, refusal=code)
        return Reply(status, {"errcode": -1, "errmsg": "system busy"}, refusal=f"{status}")

    def rate_limited_reply(self) -> Reply:
        return Reply(200, {"errcode": self.limit_code, "errmsg": "send too fast"}, refusal="rate")

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [r.request.json() for r in self.accepted]

    @staticmethod
    def _markdown(request: Request, text_field: str) -> str | None:
        try:
            body = request.json()
        except ValueError:
            return None
        kind = body.get("msgtype")
        part = body.get(kind) if kind in ("text", "markdown") else None
        text = part.get(text_field if kind == "markdown" else "content") if part else None
        return text if isinstance(text, str) and text else None


class WeComRobotStandIn(_Robot):
    """A WeCom group robot: POST /cgi-bin/webhook/send?key=…, 20 messages a minute."""

    limit_code = 45009

    def __init__(self, *, key: str = "test-wecom-key", port: int = 0) -> None:
        super().__init__(port=port, per_minute=20)
        self.key = key

    @property
    def url(self) -> str:
        return f"{self.base_url}/cgi-bin/webhook/send?key={self.key}"

    def handle(self, request: Request) -> Reply:
        if request.path != "/cgi-bin/webhook/send" or request.query.get("key") != self.key:
            return Reply(200, {"errcode": 93000, "errmsg": "invalid webhook url"}, refusal="key")
        text = self._markdown(request, "content")
        if text is None:
            return Reply(200, {"errcode": 44004, "errmsg": "empty content"}, refusal="empty")
        if len(text.encode()) > 4096:
            return Reply(200, {"errcode": 40058, "errmsg": "content too long"}, refusal="long")
        return Reply(200, {"errcode": 0, "errmsg": "ok"}, accepted=True)


class DingTalkRobotStandIn(_Robot):
    """A DingTalk group robot with 加签: POST /robot/send?access_token=…&timestamp=…&sign=…,
    the timestamp within an hour, 20 messages a minute."""

    limit_code = 130101

    def __init__(
        self, *, token: str = "test-dingtalk-token", secret: str = "SECtest", port: int = 0
    ) -> None:
        super().__init__(port=port, per_minute=20)
        self.token, self.secret = token, secret

    @property
    def url(self) -> str:
        return f"{self.base_url}/robot/send?access_token={self.token}"

    def _expected_sign(self, timestamp: str) -> str:
        mac = crypto_hmac.HMAC(self.secret.encode(), hashes.SHA256())
        mac.update(f"{timestamp}\n{self.secret}".encode())
        return base64.b64encode(mac.finalize()).decode()

    def handle(self, request: Request) -> Reply:
        query = request.query  # already URL-decoded
        if request.path != "/robot/send" or query.get("access_token") != self.token:
            return Reply(200, {"errcode": 300001, "errmsg": "token is not exist"}, refusal="token")
        timestamp = query.get("timestamp", "")
        fresh = timestamp.isdigit() and abs(int(timestamp) / 1000 - time.time()) < 3600
        if not fresh or not hmac.compare_digest(
            query.get("sign", ""), self._expected_sign(timestamp)
        ):
            return Reply(200, {"errcode": 310000, "errmsg": "sign not match"}, refusal="sign")
        if self._markdown(request, "text") is None:
            return Reply(200, {"errcode": 40035, "errmsg": "missing text"}, refusal="empty")
        return Reply(200, {"errcode": 0, "errmsg": "ok"}, accepted=True)


# --- a hospital system's webhook (Standard Webhooks) --------------------------------------


class HospitalWebhookStandIn(StandIn):
    """A hospital system receiving signed notices: POST /huiyin/notices, verified as
    Standard Webhooks requires (id, timestamp within five minutes, v1 HMAC-SHA256)."""

    TOLERANCE = 300

    def __init__(self, *, secret: str | None = None, port: int = 0) -> None:
        super().__init__(port=port)
        self.secret = (
            secret or "whsec_" + base64.b64encode(b"hospital-test-secret-32-bytes!!!").decode()
        )

    @property
    def url(self) -> str:
        return f"{self.base_url}/huiyin/notices"

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [r.request.json() for r in self.accepted]

    @property
    def ids(self) -> list[str]:
        return [r.request.headers.get("webhook-id", "") for r in self.received]

    def handle(self, request: Request) -> Reply:
        message_id = request.headers.get("webhook-id", "")
        timestamp = request.headers.get("webhook-timestamp", "")
        signatures = request.headers.get("webhook-signature", "").split()
        if not message_id or not timestamp.isdigit():
            return Reply(400, {"error": "missing webhook headers"}, refusal="headers")
        if abs(int(timestamp) - time.time()) > self.TOLERANCE:
            return Reply(401, {"error": "timestamp outside tolerance"}, refusal="timestamp")
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        mac = crypto_hmac.HMAC(key, hashes.SHA256())
        mac.update(message_id.encode() + b"." + timestamp.encode() + b"." + request.body)
        expected = base64.b64encode(mac.finalize()).decode()
        offered = [s.partition(",")[2] for s in signatures if s.startswith("v1,")]
        if not any(hmac.compare_digest(expected, s) for s in offered):
            return Reply(401, {"error": "bad signature"}, refusal="signature")
        try:
            request.json()
        except ValueError:
            return Reply(400, {"error": "not JSON"}, refusal="body")
        return Reply(200, {"ok": True}, accepted=True)
