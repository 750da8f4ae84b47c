"""Throwaway infrastructure: the RabbitMQ broker and the MongoDB-wire server.

One choice, in this order, for both the test suite and `./huiyin up`:

1. URLs from the environment (HUIYIN_MONGO_URL and HUIYIN_AMQP_URL): someone else runs them.
2. testcontainers with the real `mongo` and `rabbitmq` images, when a Docker engine answers.
3. Native servers on free ports in a temporary directory: Debian's rabbitmq-server and
   FerretDB v1.24 (SQLite backend) built from deploy/ferretdb, removed again on close.

Celery's broker is the same RabbitMQ in a vhost of its own (huiyin-celery, with the account's
rights): the native broker creates it at its first start, a container gets it through
rabbitmqctl, and servers from the environment must have it (HUIYIN_CELERY_BROKER_URL names
another if need be). `Infrastructure.celery_broker_url` points there.

The native broker and database can be stopped and started on the same port and data, killed
with SIGKILL and started again, and the database paused (SIGSTOP) and resumed: that is how the
tests prove that an outage, a crash or a database that stops answering loses nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from shared.settings import CELERY_VHOST, in_vhost

FERRETDB_VERSION = "v1.24.2"
RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
RABBITMQCTL = RABBITMQ_SERVER.parent / "rabbitmqctl"
REPO = Path(__file__).resolve().parent.parent


class ServerFailedToStart(RuntimeError):
    pass


class BrokerControl(Protocol):
    def stop(self) -> None: ...
    def start(self) -> None: ...
    def kill(self) -> None: ...


class DatabaseControl(Protocol):
    def stop(self) -> None: ...
    def start(self) -> None: ...
    def kill(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...


@dataclass
class Infrastructure:
    mongo_url: str
    amqp_url: str
    kind: str  # "environment" | "containers" | "native"
    celery_broker_url: str = ""  # the same broker, Celery's vhost
    broker: BrokerControl | None = None
    database: DatabaseControl | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def close(self) -> None:
        while self._closers:
            with contextlib.suppress(Exception):
                self._closers.pop()()


def cache_dir() -> Path:
    return Path(os.environ.get("HUIYIN_CACHE", Path.home() / ".cache" / "huiyin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, log: Path | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise ServerFailedToStart(f"{what} did not answer within {timeout:.0f}s\n{tail}")


def amqp_answers(port: int) -> bool:
    """True once the broker replies to the AMQP 0-9-1 protocol header with connection.start."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"AMQP\x00\x00\x09\x01")
            return s.recv(1) == b"\x01"
    except OSError:
        return False


def mongo_answers(url: str) -> bool:
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]]
    try:
        with MongoClient(url, serverSelectionTimeoutMS=1000) as client:
            client.admin.command("ping")
        return True
    except Exception:
        return False


def epmd_names() -> set[str]:
    """The node names Erlang's port mapper has registered (its NAMES request)."""
    port = int(os.environ.get("ERL_EPMD_PORT", "4369"))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"\x00\x01n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
    except OSError:
        return set()
    lines = data[4:].decode(errors="replace").splitlines()
    return {line.split()[1] for line in lines if line.startswith("name ")}


# --- native RabbitMQ ------------------------------------------------------------------------


class NativeRabbitMQ:
    """A private rabbitmq-server node: own name, ports, data and logs under `root`."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        if not RABBITMQ_SERVER.exists():
            raise ServerFailedToStart(
                "rabbitmq-server is not installed; run deploy/setup.sh (apt-get install "
                "rabbitmq-server)"
            )
        self.root = root
        self.port = port or free_port()
        self.dist_port = free_port()
        self.node = f"huiyin{self.port}@localhost"
        self.process: subprocess.Popen[bytes] | None = None
        (root / "home").mkdir(parents=True, exist_ok=True)
        (root / "log").mkdir(exist_ok=True)
        (root / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "loopback_users = none\n"
            "disk_free_limit.absolute = 50MB\n"
            "vm_memory_high_watermark.relative = 0.2\n"
            "log.console = false\n"
            "log.file.level = warning\n"
        )
        (root / "enabled_plugins").write_text("[].\n")
        self.log = root / "server.out"
        self._vhosts_made = False

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def celery_url(self) -> str:
        return in_vhost(self.url, CELERY_VHOST)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
        env.update(
            HOME=str(self.root / "home"),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.root / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.root / "log"),
            RABBITMQ_CONFIG_FILE=str(self.root / "rabbitmq.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.root / "enabled_plugins"),
            RABBITMQ_PID_FILE=str(self.root / "rabbitmq.pid"),
        )
        return env

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(RABBITMQ_SERVER)],
                env=self._env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        wait_until(
            lambda: self._alive() and amqp_answers(self.port),
            timeout=90,
            what=f"rabbitmq-server on port {self.port}",
            log=self.log,
        )
        if not self._vhosts_made:  # kept in the node's data across restarts
            self.add_vhost(CELERY_VHOST)
            self._vhosts_made = True

    def add_vhost(self, name: str) -> None:
        """Create a vhost with all rights for guest (both idempotent, ~0.4 s each):
        rabbitmqctl under the node's own environment, which holds its Erlang cookie."""
        for command in (
            ["add_vhost", name],
            ["set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        ):
            done = subprocess.run(
                [str(RABBITMQCTL), "-q", "-n", self.node, *command],
                env=self._env(),
                capture_output=True,
                text=True,
                timeout=60,
            )
            if done.returncode != 0:
                raise ServerFailedToStart(f"rabbitmqctl {' '.join(command)}: {done.stderr}")

    def _alive(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise ServerFailedToStart(
                f"rabbitmq-server exited with {self.process.returncode}\n"
                + self.log.read_text(errors="replace")[-3000:]
            )
        return True

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        # The Erlang runtime may leave children behind in the process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        wait_until(
            lambda: not amqp_answers(self.port),
            timeout=15,
            what="rabbitmq-server shutdown",
            log=self.log,
        )

    def kill(self) -> None:
        """SIGKILL the node, as a crash would, then clear what a crashed node leaves (its
        pid file, its name in epmd) so that `start` brings it back on the same port and data
        with its durable queues and persistent messages. Like a real crash, a quorum queue
        declared less than half a second before may not come back: Ra saves its directory
        of queues every 500 ms."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        (self.root / "rabbitmq.pid").unlink(missing_ok=True)
        name = self.node.split("@", 1)[0]
        wait_until(
            lambda: not amqp_answers(self.port) and name not in epmd_names(),
            timeout=15,
            what="rabbitmq-server to be gone from its port and from epmd",
            log=self.log,
        )


# --- native FerretDB ------------------------------------------------------------------------


def ferretdb_binary() -> Path:
    """Cached per FerretDB version and per content of our wrapper, so an edit rebuilds."""
    source = REPO / "deploy" / "ferretdb"
    digest = hashlib.sha256()
    for name in ("main.go", "go.mod", "go.sum"):
        digest.update((source / name).read_bytes())
    return cache_dir() / "bin" / f"huiyin-ferretdb-{FERRETDB_VERSION}-{digest.hexdigest()[:12]}"


def build_ferretdb() -> Path:
    """Build our FerretDB wrapper once per machine; the Go module cache makes rebuilds cheap."""
    target = ferretdb_binary()
    if target.exists():
        return target
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None:
        raise ServerFailedToStart("Go is needed once to build FerretDB; install Go >= 1.24")
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"building FerretDB {FERRETDB_VERSION} (first run only, ~2 min) ...", file=sys.stderr)
    partial = target.with_suffix(".partial")
    subprocess.run(
        [go, "build", "-trimpath", "-o", str(partial), "."],
        cwd=REPO / "deploy" / "ferretdb",
        check=True,
        env={**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"},
    )
    partial.rename(target)
    return target


class NativeFerretDB:
    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.log = root / "ferretdb.out"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    @property
    def socket(self) -> Path:
        """FerretDB's own Unix socket behind our relay (deploy/ferretdb/main.go), for tests
        that must reach FerretDB without the relay's guards."""
        return self.root / "data" / "ferretdb.sock"

    def start(self) -> None:
        binary = build_ferretdb()
        self.root.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    str(binary),
                    f"-listen-addr=127.0.0.1:{self.port}",
                    f"-sqlite-dir={self.root / 'data'}",
                ],
                env={**os.environ, "DO_NOT_TRACK": "1"},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

        def up() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise ServerFailedToStart(
                    f"FerretDB exited with {self.process.returncode}\n"
                    + self.log.read_text(errors="replace")[-3000:]
                )
            return mongo_answers(self.url)

        wait_until(up, timeout=60, what=f"FerretDB on port {self.port}", log=self.log)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        self.resume()  # a paused process acts on SIGTERM only once it runs again
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def kill(self) -> None:
        """SIGKILL, as a crash would; `start` recovers the same data (SQLite's WAL)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.kill()
        self.process.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers, like a database
        that hangs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)


# --- the choice -----------------------------------------------------------------------------


def docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def from_containers() -> Infrastructure:
    from testcontainers.mongodb import MongoDbContainer
    from testcontainers.rabbitmq import RabbitMqContainer

    mongo = MongoDbContainer("mongo:7.0").start()
    rabbit = RabbitMqContainer("rabbitmq:3.13-management").start()
    params = rabbit.get_connection_params()
    amqp = f"amqp://guest:guest@{params.host}:{params.port}/"
    for command in (
        ["rabbitmqctl", "add_vhost", CELERY_VHOST],
        ["rabbitmqctl", "set_permissions", "-p", CELERY_VHOST, "guest", ".*", ".*", ".*"],
    ):
        exit_code, output = rabbit.exec(command)
        if exit_code != 0:
            raise ServerFailedToStart(f"{' '.join(command)}: {output!r}")
    return Infrastructure(
        mongo_url=mongo.get_connection_url(),
        amqp_url=amqp,
        kind="containers",
        celery_broker_url=in_vhost(amqp, CELERY_VHOST),
        _closers=[mongo.stop, rabbit.stop],
    )


def native(
    root: Path | None = None, *, mongo_port: int | None = None, amqp_port: int | None = None
) -> Infrastructure:
    owned = root is None
    root = root or Path(tempfile.mkdtemp(prefix="huiyin-servers-"))
    infra = Infrastructure(mongo_url="", amqp_url="", kind="native")
    if owned:
        infra._closers.append(lambda: shutil.rmtree(root, ignore_errors=True))
    try:
        broker = NativeRabbitMQ(root / "rabbitmq", amqp_port)
        ferret = NativeFerretDB(root / "ferretdb", mongo_port)
        broker.start()
        infra._closers.append(broker.stop)
        ferret.start()
        infra._closers.append(ferret.stop)
    except BaseException:
        infra.close()
        raise
    infra.mongo_url, infra.amqp_url = ferret.url, broker.url
    infra.celery_broker_url = broker.celery_url
    infra.broker, infra.database = broker, ferret
    return infra


def from_environment(mongo: str, amqp: str) -> Infrastructure:
    celery = os.environ.get("HUIYIN_CELERY_BROKER_URL") or in_vhost(amqp, CELERY_VHOST)
    return Infrastructure(
        mongo_url=mongo, amqp_url=amqp, kind="environment", celery_broker_url=celery
    )


def provide_infrastructure() -> Infrastructure:
    mongo, amqp = os.environ.get("HUIYIN_MONGO_URL"), os.environ.get("HUIYIN_AMQP_URL")
    if mongo and amqp:
        return from_environment(mongo, amqp)
    if os.environ.get("HUIYIN_INFRA", "auto") in ("auto", "containers") and docker_answers():
        return from_containers()
    return native()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.servers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build the FerretDB binary into the cache")
    up = sub.add_parser("up", help="run native servers in the foreground until Ctrl-C")
    up.add_argument("--dir", type=Path, default=REPO / ".huiyin" / "servers")
    up.add_argument("--mongo-port", type=int, default=27017)
    up.add_argument("--amqp-port", type=int, default=5672)
    args = parser.parse_args(argv)
    if args.command == "build":
        print(build_ferretdb())
        return
    infra = native(args.dir, mongo_port=args.mongo_port, amqp_port=args.amqp_port)
    print(
        f"HUIYIN_MONGO_URL={infra.mongo_url}\nHUIYIN_AMQP_URL={infra.amqp_url}\n"
        f"HUIYIN_CELERY_BROKER_URL={infra.celery_broker_url}",
        flush=True,
    )
    stop = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    try:
        signal.sigwait(stop)
    finally:
        infra.close()


if __name__ == "__main__":
    main()
