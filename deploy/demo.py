"""`./huiyin up`: the whole platform on this machine with demo data.

Starts the broker and the MongoDB-wire server (deploy.servers), a local SMTP server that
files every e-mail into a maildir, the four services as separate processes, then the Celery
worker of each service that has tasks and the one beat (shared/celery_app.py,
shared/celery_beat.py), loads the demo region and a handful of complaints, then prints where
to look. Ctrl-C stops everything.
Demo API keys are generated once and kept in .huiyin/demo-keys.json (never committed), and
so is each demo hospital system's staff-assertion signing key (.huiyin/staff-keys/), whose
public half the demo registers with the bureau's key. `--assertion HOSPITAL STAFF` prints a
fresh assertion for curl.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import mailbox
import os
import secrets
import signal
import socket
import subprocess
import time
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from deploy.admin import load_region
from deploy.group_sinks import GroupSinks
from deploy.processes import start_beat, start_service, start_worker, stop_services
from deploy.servers import REPO, Infrastructure, from_environment, native
from services.routing.settings import RoutingSettings
from shared.auth import hash_key
from shared.celery_app import TASK_MODULES, make_celery, node_name
from shared.celery_beat import beat_node, beat_schedule
from shared.settings import ServiceSettings
from shared.staff_assertion import ASSERTION_HEADER, public_pem, sign_staff_assertion, thumbprint

STATE = REPO / ".huiyin"
REGION_FILE = REPO / "deploy" / "region.example.yaml"
PRINCIPALS = ("bureau", "hz-001", "hz-002", "hz-003")
HOSPITALS = PRINCIPALS[1:]
AUDIENCE = "huiyin"  # HUIYIN_ASSERTION_AUDIENCE of the demo's intake
SERVICES = {"intake": 8001, "routing": 8002, "notification": 8003, "reporting": 8004}
# The Celery worker of each service that has tasks, and its metrics port (9540 up).
WORKERS = {service: 9540 + n for n, service in enumerate(TASK_MODULES)}

DEMO_COMPLAINTS: list[tuple[str, dict[str, Any]]] = [
    (
        "hz-001",
        {
            "channel": "web",
            "content": "住院部护士给我父亲输液时态度很差，呼叫铃按了半小时没人来。",
            "demand": "希望加强护理管理并给出解释。",
            "complainant": {
                "name": "李娜",
                "phone": "13800001111",
                "email": "lina@patients.example.org",
                "relation": "family",
            },
        },
    ),
    (
        "hz-001",
        {
            "channel": "phone",
            "content": "出院结算时发现重复收费，CT检查费用收了两次。",
            "demand": "退还多收的费用。",
            "complainant": {"name": "王强", "phone": "13900002222"},
        },
    ),
    (
        "hz-002",
        {
            "channel": "letter",
            "anonymous": True,
            "content": "有医生暗示收红包才安排手术，希望查处。",
        },
    ),
    (
        "hz-002",
        {
            "channel": "in_person",
            "content": "药房发错药，药品与处方不符，差点误服。",
            "complainant": {"name": "赵敏", "email": "zhaomin@patients.example.org"},
        },
    ),
    (
        "hz-003",
        {
            "channel": "web",
            "kind": "suggestion",
            "content": "门诊挂号排队时间太长，建议增加自助挂号机。",
            "complainant": {"name": "陈晨", "phone": "13700003333"},
        },
    ),
    (
        "hz-003",
        {
            "channel": "email",
            "content": "手术后伤口感染，怀疑消毒不规范，医疗质量有问题。",
            "demand": "要求医院说明原因并承担后续治疗费用。",
            "complainant": {"name": "刘洋", "email": "liuyang@patients.example.org"},
        },
    ),
]


def port_or_free(preferred: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])


def demo_keys() -> dict[str, str]:
    path = STATE / "demo-keys.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())  # written below
        return stored
    keys = {name: secrets.token_urlsafe(24) for name in PRINCIPALS}
    path.write_text(json.dumps(keys, indent=2))
    path.chmod(0o600)
    return keys


def demo_staff_keys() -> dict[str, ed25519.Ed25519PrivateKey]:
    """Each demo hospital system's signing key for staff assertions (its private key stays
    with the hospital: here, .huiyin/staff-keys/)."""
    folder = STATE / "staff-keys"
    folder.mkdir(parents=True, exist_ok=True)
    keys = {}
    for hospital in HOSPITALS:
        path = folder / f"{hospital}.pem"
        if not path.exists():
            pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            path.touch(mode=0o600)
            path.write_bytes(pem)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        keys[hospital] = key
    return keys


def register_staff_keys(
    intake: str, keys: dict[str, str], staff_keys: dict[str, ed25519.Ed25519PrivateKey]
) -> None:
    """What the bureau does with `huiyin-admin assertion-keys register` (same key again:
    200, so running `up` twice is fine)."""
    for hospital, key in staff_keys.items():
        response = httpx.post(
            f"{intake}/v1/admin/hospitals/{hospital}/assertion-keys",
            json={"public_key": public_pem(key.public_key()), "note": "demo"},
            headers={"Authorization": f"Bearer {keys['bureau']}"},
            timeout=10,
        )
        response.raise_for_status()


def acting_as(
    keys: dict[str, str],
    staff_keys: dict[str, ed25519.Ed25519PrivateKey],
    hospital: str,
    staff_id: str,
) -> dict[str, str]:
    """The hospital system's headers for one request of one staff member."""
    key = staff_keys[hospital]
    assertion = sign_staff_assertion(
        private_key=key,
        kid=thumbprint(key.public_key()),
        hospital_id=hospital,
        staff_id=staff_id,
        audience=AUDIENCE,
    )
    return {"Authorization": f"Bearer {keys[hospital]}", ASSERTION_HEADER: assertion}


def demo_identity_key() -> str:
    """The key that encrypts complainants' identity in the demo database; kept with the
    data it protects (.huiyin/), because a lost key makes that data unreadable."""
    path = STATE / "identity.key"
    if not path.exists():
        path.write_text(base64.b64encode(os.urandom(32)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


def infrastructure() -> Infrastructure:
    mongo, amqp = os.environ.get("HUIYIN_MONGO_URL"), os.environ.get("HUIYIN_AMQP_URL")
    if mongo and amqp:
        return from_environment(mongo, amqp)
    return native(STATE / "servers", mongo_port=port_or_free(27017), amqp_port=port_or_free(5672))


def wait_ready(urls: dict[str, str], processes: dict[str, subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    pending = dict(urls)
    while pending:
        for name, url in list(pending.items()):
            if processes[name].poll() is not None:
                raise SystemExit(f"{name} exited; see .huiyin/logs/{name}.log")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    del pending[name]
        if time.monotonic() > deadline:
            raise SystemExit(f"not ready after 60 s: {', '.join(pending)}; see .huiyin/logs/")
        time.sleep(0.3)


def start_celery(
    infra: Infrastructure, env: dict[str, str], processes: dict[str, subprocess.Popen[bytes]]
) -> dict[str, int]:
    """A worker per service that has tasks, each with its own metrics port and multiprocess
    directory, then the one beat; logs beside the services'. Returns each worker's port."""
    env = env | {"HUIYIN_CELERY_BROKER_URL": infra.celery_broker_url}
    ports = {service: port_or_free(port) for service, port in WORKERS.items()}
    for service, port in ports.items():
        processes[f"{service}-worker"] = start_worker(
            service,
            env=env
            | {
                "HUIYIN_WORKER_METRICS_PORT": str(port),
                "HUIYIN_WORKER_METRICS_DIR": str(STATE / "worker-metrics" / service),
            },
            log=STATE / "logs" / f"{service}-worker.log",
        )
    processes["beat"] = start_beat(env=env, log=STATE / "logs" / "beat.log")
    return ports


def wait_celery_ready(infra: Infrastructure, processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """Until every worker and the beat answer Celery's ping (what `--check` asks)."""
    app = make_celery(
        "demo", ServiceSettings(amqp_url=infra.amqp_url, celery_broker_url=infra.celery_broker_url)
    )
    nodes = {f"{service}-worker": node_name(service) for service in WORKERS}
    nodes["beat"] = beat_node()
    deadline = time.monotonic() + 60
    try:
        while nodes:
            for name, node in list(nodes.items()):
                if processes[name].poll() is not None:
                    raise SystemExit(f"{name} exited; see .huiyin/logs/{name}.log")
                if app.control.ping(destination=[node], timeout=1):
                    del nodes[name]
            if nodes and time.monotonic() > deadline:
                raise SystemExit(f"not ready after 60 s: {', '.join(nodes)}; see .huiyin/logs/")
    finally:
        app.close()


def post_demo_complaints(
    intake: str, keys: dict[str, str], staff_keys: dict[str, ed25519.Ed25519PrivateKey]
) -> list[dict[str, str]]:
    """Registered and accepted at once by each hospital's complaint office (proven by the
    hospital's signature), so every handler is told; `walk_one_case` then takes the first
    one to closure."""
    receipts = []
    for n, (hospital, body) in enumerate(DEMO_COMPLAINTS):
        office = f"{hospital}-complaint_office-1"
        response = httpx.post(
            f"{intake}/v1/complaints",
            json=body | {"received_by": office, "accepted": True},
            headers=acting_as(keys, staff_keys, hospital, office)
            # Running `up` again adds no duplicates ("v2": the demo accepts at registration).
            | {"Idempotency-Key": f"demo-v2-{n}"},
            timeout=10,
        )
        response.raise_for_status()
        receipts.append(response.json())
    return receipts


def walk_one_case(
    intake: str,
    keys: dict[str, str],
    staff_keys: dict[str, ed25519.Ed25519PrivateKey],
    receipt: dict[str, str],
) -> str:
    """Finding, reply and closure of the first demo case, so the timeline shows a whole
    lifecycle. Returns the case's status (already closed when `up` runs again)."""
    office = "hz-001-complaint_office-1"
    url = f"{intake}/v1/complaints/{receipt['id']}"
    case = httpx.get(url, headers=acting_as(keys, staff_keys, "hz-001", office), timeout=10).json()
    if case["status"] not in ("assigned", "in_progress") or not case["assignment"]:
        return str(case["status"])
    handler = case["assignment"]["handler"]["staff_id"]
    steps = [
        ("notes", {"actor": handler, "content": "调阅护理记录并询问当班护士。"}),
        (
            "finding",
            {
                "actor": handler,
                "result": "partly_substantiated",
                "summary": "呼叫铃响应超时属实，输液操作符合规范。",
                "responsible_department": "nursing",
            },
        ),
        ("reply", {"actor": handler, "content": "经核实，已对当班护士批评教育并加强夜间巡视。"}),
        (
            "close",
            {
                "actor": office,
                "satisfaction": "basically_satisfied",
                "return_visit": {"method": "phone", "record": "电话回访，家属表示基本满意。"},
            },
        ),
    ]
    for action, body in steps:
        headers = acting_as(keys, staff_keys, "hz-001", str(body["actor"]))
        httpx.post(f"{url}/{action}", json=body, headers=headers, timeout=10).raise_for_status()
    return "closed"


def subjects(maildir: Path) -> list[str]:
    return [str(make_header(decode_header(m["Subject"] or ""))) for m in mailbox.Maildir(maildir)]


def all_handlers_mailed(maildir: Path, receipts: list[dict[str, str]]) -> bool:
    mailed = " ".join(s for s in subjects(maildir) if "新投诉待处理" in s)
    return all(receipt["case_number"] in mailed for receipt in receipts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./huiyin up", description=__doc__)
    parser.add_argument("--once", action="store_true", help="exit after the demo (smoke test)")
    parser.add_argument(
        "--assertion",
        nargs=2,
        metavar=("HOSPITAL", "STAFF"),
        help="print a fresh staff assertion of a demo hospital and exit (for curl)",
    )
    args = parser.parse_args(argv)
    if args.assertion:
        hospital, staff_id = args.assertion
        if hospital not in HOSPITALS:
            parser.error(f"HOSPITAL is one of {', '.join(HOSPITALS)}")
        headers = acting_as(demo_keys(), demo_staff_keys(), hospital, staff_id)
        print(headers[ASSERTION_HEADER])
        return 0
    (STATE / "logs").mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    infra = infrastructure()
    maildir = STATE / "mail"
    mailbox.Maildir(maildir, create=True)
    smtp = Controller(Mailbox(maildir), hostname="127.0.0.1", port=port_or_free(1025))
    smtp.start()
    groups = GroupSinks(STATE / "groups")
    group_names = groups.start()
    keys = demo_keys()
    staff_keys = demo_staff_keys()
    spec = ",".join(f"{name}:{hash_key(key)}" for name, key in keys.items())
    ports = {name: port_or_free(port) for name, port in SERVICES.items()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    base_env = {
        **os.environ,
        "HUIYIN_ENV": "development",
        "HUIYIN_MONGO_URL": infra.mongo_url,
        "HUIYIN_AMQP_URL": infra.amqp_url,
        "HUIYIN_API_KEYS": spec,
        "HUIYIN_SMTP_PORT": str(smtp.port),
        "HUIYIN_TRACKING_URL": f"{urls['intake']}/v1/track/",
        "HUIYIN_CASE_URL": f"{urls['intake']}/v1/complaints/",
        "HUIYIN_IDENTITY_KEY": demo_identity_key(),
        "HUIYIN_ASSERTION_AUDIENCE": AUDIENCE,
        # Reporting's hospital names and departments (the service and its worker's tables).
        "HUIYIN_REGION_FILE": str(REGION_FILE),
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        counts = asyncio.run(load_region(REGION_FILE, RoutingSettings(mongo_url=infra.mongo_url)))
        for name, port in ports.items():
            own = {"HUIYIN_HTTP_PORT": str(port)}
            processes[name] = start_service(
                name, env=base_env | own, log=STATE / "logs" / f"{name}.log"
            )
        wait_ready(urls, processes)
        worker_ports = start_celery(infra, base_env, processes)
        register_staff_keys(urls["intake"], keys, staff_keys)
        receipts = post_demo_complaints(urls["intake"], keys, staff_keys)
        deadline = time.monotonic() + 30
        while not all_handlers_mailed(maildir, receipts) and time.monotonic() < deadline:
            time.sleep(0.2)
        walked = walk_one_case(urls["intake"], keys, staff_keys, receipts[0])
        print(f"  first demo case walked to: {walked}", flush=True)
        wait_celery_ready(infra, processes)
        print_where_to_look(infra, urls, worker_ports, keys, counts, receipts, maildir, started)
        print(
            f"  group chats           {', '.join(group_names) or 'none (ports taken)'}: posts "
            f"filed in {STATE / 'groups'}/<name>.jsonl",
            flush=True,
        )
        if args.once:
            return 0
        stop = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)
        signal.sigwait(stop)
        print("\nstopping ...")
        return 0
    finally:
        # Everything is stopped even if Ctrl-C comes again (or uv passes it on): ignored now.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        stop_services(processes.values())
        smtp.stop()
        groups.stop()
        infra.close()


def print_where_to_look(
    infra: Infrastructure,
    urls: dict[str, str],
    worker_ports: dict[str, int],
    keys: dict[str, str],
    counts: dict[str, int],
    receipts: list[dict[str, str]],
    maildir: Path,
    started: float,
) -> None:
    mails = subjects(maildir)
    print(f"\n回音 Huiyin is up ({time.monotonic() - started:.1f} s)\n")
    print(f"  MongoDB-wire server   {infra.mongo_url}   ({infra.kind})")
    print(f"  RabbitMQ              {infra.amqp_url}")
    print(f"  region loaded         {counts}")
    for name, url in urls.items():
        print(f"  {name:<13} API docs {url}/docs   metrics {url}/metrics   ready {url}/readyz")
    print(f"\n  Celery broker         {infra.celery_broker_url}")
    for service, port in worker_ports.items():
        worker = f"{service}-worker"
        print(f"  {worker:<21} metrics http://127.0.0.1:{port}/metrics (its processes added up)")
    schedule = beat_schedule(list(TASK_MODULES.values()))
    for n, entry in enumerate(schedule.values()):
        beat = "" if n else "beat (one: a lease)"
        print(f"  {beat:<21} sends {entry['task']} {entry['schedule']!r}")
    print(
        f"  health checks         HUIYIN_AMQP_URL={infra.amqp_url} "
        f"uv run --frozen huiyin-worker {next(iter(worker_ports))} --check "
        "(or huiyin-beat --check): exit 0"
    )
    print("\n  API keys (demo only, kept in .huiyin/demo-keys.json):")
    for name, key in keys.items():
        print(f"    {name:<8} {key}")
    print(f"\n  demo complaints       {len(receipts)} posted:")
    for receipt in receipts:
        print(f"    {receipt['case_number']:<20} tracking {receipt['tracking_code']}")
    handler_mails = sum("新投诉待处理" in s for s in mails)
    print(
        f"  e-mails               {len(mails)} in {maildir} (maildir): {handler_mails} to "
        f"handlers, {len(mails) - handler_mails} to complainants"
    )
    print("\n  try:")
    print(
        f"    curl -H 'Authorization: Bearer {keys['bureau']}' "
        f"'{urls['reporting']}/v1/reports/summary'"
    )
    print(
        f"    report page (投诉统计报表): {urls['reporting']}/reports#key={keys['bureau']}"
        "   # the key stays in the browser"
    )
    print(f"    curl '{urls['intake']}/v1/track/{receipts[0]['tracking_code']}'")
    hz1 = f"-H 'Authorization: Bearer {keys['hz-001']}'"
    case = f"{urls['intake']}/v1/complaints/{receipts[0]['id']}"
    sign = "uv run --frozen python -m deploy.demo --assertion hz-001 hz-001-complaint_office-1"
    print(f"    curl {hz1} '{case}'   # masked: the hospital's key alone proves no one")
    print(f"    curl {hz1} -H \"{ASSERTION_HEADER}: $({sign})\" \\\n        '{case}'")
    print(f"    curl {hz1} '{case}/timeline/verify'")
    deliveries = f"{urls['notification']}/v1/complaints/{receipts[0]['id']}/deliveries"
    print(f"    curl {hz1} '{deliveries}'   # the delivery log: who was told, how, when")
    print(f"  logs in {STATE / 'logs'}; Ctrl-C stops everything.", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
