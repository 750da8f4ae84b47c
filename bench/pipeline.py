"""Pipeline benchmark: all servers and the four services on this machine, as in production.

Prints five figures:
0. store ops — MongoDB commands per complaint, by service (huiyin_store_operations_total
   scraped before and after `--ops` complaints have gone through, each told to its
   handler, and the services are quiet again);
1. baseline  — what the bare database write plus a confirmed publish achieves (the floor of
   any durable intake), with the same concurrency as the HTTP load;
2. pipeline  — `--requests` complaints posted as fast as `--concurrency` clients can: the
   rate `POST /v1/complaints` accepted them while the rest of the pipeline worked, and the
   rate the whole pipeline sustained (posted until the last handler's e-mail arrived);
3. latency   — POST → handler's e-mail, median and p99, at a fixed arrival rate
   (open loop: a slow system does not slow the arrivals down), once the pipeline is idle;
4. intake alone — routing, notification and reporting stopped: complaints accepted per
   second (durable store with outbox, then confirmed publish by the relay), and its ratio
   to the baseline.

Usage: `./huiyin bench [--rate 50 --seconds 20 --requests 2000 --concurrency 16]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import statistics
import subprocess
import threading
import time
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

import aio_pika
import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from bson import ObjectId
from cryptography.hazmat.primitives.asymmetric import ed25519

from deploy.admin import load_region
from deploy.demo import AUDIENCE, REGION_FILE, wait_ready
from deploy.processes import start_service, stop_services
from deploy.servers import Infrastructure, free_port, native, provide_infrastructure
from services.routing.settings import RoutingSettings
from shared.auth import hash_key
from shared.runtime import mongo_client
from shared.staff_assertion import ASSERTION_HEADER, public_pem, sign_staff_assertion, thumbprint

HOSPITALS = ("hz-001", "hz-002", "hz-003")
TEXTS = (
    "住院部护士输液时态度很差，呼叫铃按了半小时没人来。",
    "出院结算时发现重复收费，CT检查费用收了两次。",
    "药房发错药，药品与处方不符。",
    "门诊挂号排队时间太长，等候两个小时。",
)
CASE = re.compile(r"HZ-\d{3}-\d{6}-\d{5}")
# Each hospital system's staff-assertion key; the bureau registers the public halves.
STAFF_KEYS = {hospital: ed25519.Ed25519PrivateKey.generate() for hospital in HOSPITALS}


class HandlerMailClock:
    """An SMTP server that notes when each handler's assignment e-mail arrives."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        now = time.monotonic()
        if not isinstance(envelope.content, bytes):  # always bytes: decode_data is off
            return "250 OK"
        message = message_from_bytes(envelope.content)
        subject = str(make_header(decode_header(message["Subject"] or "")))
        if "新投诉待处理" in subject and (match := CASE.search(subject)):
            with self.lock:
                self.arrived.setdefault(match.group(0), now)
        return "250 OK"


OPERATIONS = re.compile(
    r"^huiyin_store_operations_total\{(?P<labels>[^}]*)\} (?P<n>[0-9.e+]+)$", re.MULTILINE
)
LABEL = re.compile(r'(?P<name>\w+)="(?P<value>[^"]*)"')


def store_operations(urls: dict[str, str]) -> dict[tuple[str, str, str], float]:
    """Every service's store operations so far, by (service, command, collection)."""
    counts: dict[tuple[str, str, str], float] = {}
    for url in urls.values():
        text = httpx.get(f"{url}/metrics", timeout=10).text
        for match in OPERATIONS.finditer(text):
            labels = {m["name"]: m["value"] for m in LABEL.finditer(match["labels"])}
            key = (labels["service"], labels["command"], labels.get("collection", ""))
            counts[key] = counts.get(key, 0) + float(match["n"])
    return counts


async def operations_per_complaint(
    urls: dict[str, str], keys: dict[str, str], clock: HandlerMailClock, total: int
) -> dict[tuple[str, str, str], float]:
    """Store operations per complaint: `total` complaints posted (8 at a time), each told
    to its handler, then until no service sends a command for 3 s."""
    before = store_operations(urls)
    posted: list[str] = []
    semaphore = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=urls["intake"], timeout=120) as http:

        async def one(n: int) -> None:
            hospital = HOSPITALS[n % len(HOSPITALS)]
            async with semaphore:
                response = await http.post(
                    "/v1/complaints",
                    json=complaint(200_000 + n, hospital),
                    headers=office_headers(keys, hospital),
                )
                response.raise_for_status()
                posted.append(response.json()["case_number"])

        await asyncio.gather(*(one(n) for n in range(total)))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not set(posted) <= clock.arrived.keys():  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    last = store_operations(urls)
    while time.monotonic() < deadline:
        await asyncio.sleep(3)
        now = store_operations(urls)
        if now == last:
            break
        last = now
    return {key: (n - before.get(key, 0)) / total for key, n in last.items()}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def complaint(n: int, hospital: str = "hz-001") -> dict[str, object]:
    return {
        "channel": "web",
        "content": f"{TEXTS[n % len(TEXTS)]}（基准测试 {n}）",
        "complainant": {"name": "测试", "email": f"bench{n}@patients.example.org"},
        # Accepted at registration by the office, as the demo does: the handler is told at once.
        "received_by": f"{hospital}-complaint_office-1",
        "accepted": True,
    }


def register_staff_keys(url: str, keys: dict[str, str]) -> None:
    for hospital, key in STAFF_KEYS.items():
        httpx.post(
            f"{url}/v1/admin/hospitals/{hospital}/assertion-keys",
            json={"public_key": public_pem(key.public_key())},
            headers={"Authorization": f"Bearer {keys['bureau']}"},
            timeout=10,
        ).raise_for_status()


def office_headers(keys: dict[str, str], hospital: str) -> dict[str, str]:
    """The hospital system's headers for its complaint office, which accepts at
    registration: a fresh signed assertion per request, as in production."""
    key = STAFF_KEYS[hospital]
    assertion = sign_staff_assertion(
        private_key=key,
        kid=thumbprint(key.public_key()),
        hospital_id=hospital,
        staff_id=f"{hospital}-complaint_office-1",
        audience=AUDIENCE,
    )
    return {"Authorization": f"Bearer {keys[hospital]}", ASSERTION_HEADER: assertion}


async def baseline(infra: Infrastructure, total: int, concurrency: int) -> float:
    """Insert one complaint-sized document and publish one persistent message with a
    publisher confirm, per operation, `concurrency` at a time."""
    client = mongo_client(infra.mongo_url)
    connection = await aio_pika.connect_robust(infra.amqp_url)
    try:
        collection = client["huiyin_bench"]["baseline"]
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            "huiyin.bench", aio_pika.ExchangeType.TOPIC, durable=True, auto_delete=True
        )
        queue = await channel.declare_queue("huiyin.bench.sink", durable=True)
        await queue.bind(exchange, "#")
        body = complaint(0) | {"hospital_id": "hz-001", "status": "received", "timeline": []}
        semaphore = asyncio.Semaphore(concurrency)

        async def one(n: int) -> None:
            async with semaphore:
                document = body | {"_id": str(ObjectId()), "n": n}
                await collection.insert_one(document)
                await exchange.publish(
                    aio_pika.Message(
                        str(document["_id"]).encode(),
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key="complaint.received",
                    mandatory=True,
                )

        await one(-1)  # warm up
        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(total)))
        elapsed = time.perf_counter() - started
        await queue.delete(if_unused=False, if_empty=False)
        await client.drop_database("huiyin_bench")
        return total / elapsed
    finally:
        await connection.close()
        await client.close()


async def post_burst(
    url: str, keys: dict[str, str], numbers: range, concurrency: int
) -> tuple[float, float, list[str]]:
    """POST one complaint per number, `concurrency` at a time: (monotonic start, rate
    accepted per second, case numbers)."""
    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    posted: list[str] = []
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:

        async def one(n: int) -> None:
            hospital = HOSPITALS[n % len(HOSPITALS)]
            async with semaphore:
                response = await http.post(
                    "/v1/complaints",
                    json=complaint(n, hospital),
                    headers=office_headers(keys, hospital),
                )
                response.raise_for_status()
                posted.append(response.json()["case_number"])

        started = time.monotonic()
        await asyncio.gather(*(one(n) for n in numbers))
        return started, len(numbers) / (time.monotonic() - started), posted


async def mailed(clock: HandlerMailClock, cases: list[str], within: float) -> float | None:
    """When the last of `cases` reached its handler (monotonic), or None if some did not
    within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with clock.lock:
            arrived = [clock.arrived.get(case) for case in cases]
        if all(at is not None for at in arrived):
            return max(at for at in arrived if at is not None)
        await asyncio.sleep(0.2)
    return None


async def post_to_mail_latency(
    url: str, keys: dict[str, str], clock: HandlerMailClock, rate: float, seconds: float
) -> tuple[list[float], int]:
    posted: dict[str, float] = {}
    total = int(rate * seconds)
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:

        async def one(n: int, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            hospital = HOSPITALS[n % len(HOSPITALS)]
            sent = time.monotonic()
            try:
                response = await http.post(
                    "/v1/complaints",
                    json=complaint(100_000 + n, hospital),
                    headers=office_headers(keys, hospital),
                )
                response.raise_for_status()
            except httpx.HTTPError:
                return  # counted as missing: the platform did not accept it in time
            posted[response.json()["case_number"]] = sent

        start = time.monotonic() + 0.5
        await asyncio.gather(*(one(n, start + n / rate) for n in range(total)))
    deadline = time.monotonic() + 60
    # the mail clock fills in from the SMTP thread, so polling is the simple way to wait
    while time.monotonic() < deadline and not posted.keys() <= clock.arrived.keys():  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    latencies = [clock.arrived[c] - t for c, t in posted.items() if c in clock.arrived]
    return latencies, total - len(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="throughput phase size")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=50.0, help="arrivals/s, latency phase")
    parser.add_argument("--seconds", type=float, default=20.0, help="latency phase length")
    parser.add_argument("--ops", type=int, default=200, help="complaints the ops count follows")
    parser.add_argument("--ops-only", action="store_true", help="count store operations only")
    args = parser.parse_args()

    infra = provide_infrastructure() if os.environ.get("HUIYIN_MONGO_URL") else native()
    clock = HandlerMailClock()
    smtp = Controller(clock, hostname="127.0.0.1", port=free_port())
    smtp.start()
    keys = {name: f"bench-key-{name}" for name in ("bureau", *HOSPITALS)}
    spec = ",".join(f"{name}:{hash_key(key)}" for name, key in keys.items())
    ports = {name: free_port() for name in ("intake", "routing", "notification", "reporting")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    logs = Path(".huiyin/logs")
    logs.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HUIYIN_ENV": "test",
        "HUIYIN_MONGO_URL": infra.mongo_url,
        "HUIYIN_AMQP_URL": infra.amqp_url,
        "HUIYIN_API_KEYS": spec,
        "HUIYIN_SMTP_PORT": str(smtp.port),
        "HUIYIN_LOG_LEVEL": "WARNING",
        "HUIYIN_IDENTITY_KEY": base64.b64encode(os.urandom(32)).decode(),
        "HUIYIN_ASSERTION_AUDIENCE": AUDIENCE,
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        asyncio.run(load_region(REGION_FILE, RoutingSettings(mongo_url=infra.mongo_url)))
        for name, port in ports.items():
            processes[name] = start_service(
                name, env=env | {"HUIYIN_HTTP_PORT": str(port)}, log=logs / f"{name}.log"
            )
        wait_ready(urls, processes)
        register_staff_keys(urls["intake"], keys)
        print(f"infrastructure: {infra.kind}; 4 services, broker, database and SMTP on this host")

        per = asyncio.run(operations_per_complaint(urls, keys, clock, args.ops))
        by_service: dict[str, float] = {}
        for (service, _, _), n in per.items():
            by_service[service] = by_service.get(service, 0) + n
        print(
            f"store ops per complaint (accepted at registration, told to its handler): "
            f"{sum(per.values()):.1f} = "
            + ", ".join(f"{s} {n:.1f}" for s, n in sorted(by_service.items()))
        )
        for (service, command, collection), n in sorted(per.items()):
            if n >= 0.05:
                print(f"    {service:13} {command:14} {n:5.2f}  {collection}")
        if args.ops_only:
            return

        floor = asyncio.run(baseline(infra, args.requests, args.concurrency))
        print(
            f"baseline  bare insert + confirmed publish: {floor:8.1f} ops/s "
            f"({args.requests} ops, concurrency {args.concurrency})"
        )
        started, accepted, cases = asyncio.run(
            post_burst(urls["intake"], keys, range(args.requests), args.concurrency)
        )
        print(
            f"pipeline  POST /v1/complaints accepted:    {accepted:8.1f} /s "
            f"= {accepted / floor:.2f} x baseline (the rest of the pipeline working)"
        )
        last = asyncio.run(mailed(clock, cases, within=max(120.0, args.requests / 5)))
        if last is None:
            print("pipeline  not every handler was told within the wait")
        else:
            print(
                f"pipeline  sustained, POST to the last handler's e-mail: "
                f"{args.requests / (last - started):8.1f} complaints/s"
            )
        latencies, missing = asyncio.run(
            post_to_mail_latency(urls["intake"], keys, clock, args.rate, args.seconds)
        )
        if latencies:
            print(
                f"latency   POST -> handler e-mail at {args.rate:.0f}/s for {args.seconds:.0f} s: "
                f"p50 {statistics.median(latencies) * 1000:.0f} ms, "
                f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
                f"max {max(latencies) * 1000:.0f} ms ({len(latencies)} mails, {missing} missing)"
            )
        else:
            print(f"latency   no handler e-mail arrived ({missing} missing)")

        stop_services(processes.pop(name) for name in ("routing", "notification", "reporting"))
        _, alone, _ = asyncio.run(
            post_burst(
                urls["intake"], keys, range(300_000, 300_000 + args.requests), args.concurrency
            )
        )
        print(
            f"intake    alone (the other services stopped), accepted: {alone:8.1f} /s "
            f"= {alone / floor:.2f} x baseline (target 0.5)"
        )
    finally:
        stop_services(processes.values())
        smtp.stop()
        infra.close()


if __name__ == "__main__":
    main()
