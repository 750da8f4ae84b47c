"""The demo's stand-ins for the groups of the example region (deploy/region.example.yaml,
section `notification:`): a WeCom robot, a DingTalk robot and a hospital system's webhook on
127.0.0.1:18091-18093. Each accepts every post as the real one would when all is well and
files it, one JSON line per post, in `.huiyin/groups/<name>.jsonl`, so that `./huiyin up`
shows what the ladder posts to group chats instead of failing to reach them. Demo only:
they check no signature (the tests' stand-ins in tests/support/http_standins.py do)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# The example region's group URLs: name → port.
GROUPS = {"wecom-robot": 18091, "dingtalk-robot": 18092, "hospital-system": 18093}


class GroupSinks:
    def __init__(self, directory: Path, groups: dict[str, int] | None = None) -> None:
        self.directory = directory
        self.groups = GROUPS if groups is None else groups
        self.servers: list[ThreadingHTTPServer] = []
        self.lock = threading.Lock()

    def start(self) -> list[str]:
        """Start every sink whose port is free; returns the ones started."""
        self.directory.mkdir(parents=True, exist_ok=True)
        started = []
        for name, port in self.groups.items():
            try:
                server = ThreadingHTTPServer(("127.0.0.1", port), self._handler(name))
            except OSError:  # the port is taken: that group's posts will fail and be retried
                continue
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers.append(server)
            started.append(name)
        return started

    def stop(self) -> None:
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.shutdown()
                server.server_close()

    def _handler(self, name: str) -> type[BaseHTTPRequestHandler]:
        sinks = self

        class Filed(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", errors="replace")
                line = {"at": time.time(), "path": self.path.split("?")[0], "body": body}
                with sinks.lock, (sinks.directory / f"{name}.jsonl").open("a") as out:
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
                reply = b'{"errcode":0,"errmsg":"ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        return Filed
