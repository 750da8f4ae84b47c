"""`huiyin-admin parked list|show|replay|discard --service NAME`: a service's parked messages.

It calls that service's admin API (GET/POST /v1/admin/parked...) with the bureau's key,
rather than its database and broker: the service stays the one writer of its parked
messages (and its gauge moves at once), every action is authorised and recorded under the
key's principal, and an operator needs only the service's URL and the key, no database or
broker credentials.

    HUIYIN_ADMIN_KEY        the bureau's API key (clear; never on the command line)
    HUIYIN_<SERVICE>_URL    e.g. HUIYIN_ROUTING_URL; default http://127.0.0.1:<its port>

    huiyin-admin parked list --service routing                 # parked now, newest first
    huiyin-admin parked list --service routing --status discarded --json
    huiyin-admin parked replay --service routing 20261130T...  # one, after the fix
    huiyin-admin parked replay --service routing --all [--type complaint.received]
    huiyin-admin parked discard --service notification ID --reason "重复投诉，已人工处理"
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
from typing import Any

import httpx

from deploy import admin_api
from deploy.admin_api import CommandFailed, bureau_client

PORTS = {"intake": 8001, "routing": 8002, "notification": 8003, "reporting": 8004}


def add_parser(commands: Any) -> None:
    """Register `parked` and its actions on huiyin-admin's sub-commands."""
    action = admin_api.add_command(
        commands,
        "parked",
        help="list, replay or discard a service's parked messages",
        description=__doc__,
        common=_which_service,
    )
    listing = action("list", "parked messages, newest first")
    listing.add_argument(
        "--status", default="parked", choices=["parked", "replayed", "discarded", "all"]
    )
    listing.add_argument("--type", dest="event_type", help="only this event type")
    listing.add_argument("--oldest", action="store_true", help="oldest first")
    listing.add_argument("--limit", type=int, default=20, help="per page (1-200)")
    listing.add_argument("--cursor", help="next_cursor of the previous page")
    listing.add_argument("--json", action="store_true", help="the API's page as JSON")
    show = action("show", "one parked message with its history")
    show.add_argument("id")
    replay = action("replay", "deliver parked messages again, as they first arrived")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", default=[], metavar="ID")
    which.add_argument("--all", action="store_true", help="every parked one, in parking order")
    replay.add_argument("--type", dest="event_type", help="with --all: only this event type")
    discard = action("discard", "give up on a parked message, with the reason")
    discard.add_argument("id")
    discard.add_argument("--reason", required=True, help="why it is not replayed")


def _which_service(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--service", required=True, choices=sorted(PORTS))
    parser.add_argument("--url", help="the service's base URL (else HUIYIN_<SERVICE>_URL)")
    parser.add_argument(
        "--operator", default=None, help="your name, recorded with the action (else $USER)"
    )


def run(args: argparse.Namespace) -> int:
    return admin_api.run("parked", args, client=client, actions=ACTIONS)


def client(args: argparse.Namespace) -> httpx.Client:
    url = (
        args.url
        or os.environ.get(f"HUIYIN_{args.service.upper()}_URL")
        or f"http://127.0.0.1:{PORTS[args.service]}"
    )
    return bureau_client(url, timeout=60)


def call(http: httpx.Client, method: str, path: str, **request: Any) -> Any:
    return admin_api.call(http, method, f"/v1/admin/parked{path}", **request)


def operator(args: argparse.Namespace) -> str | None:
    if args.operator:
        return str(args.operator)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def list_parked(http: httpx.Client, args: argparse.Namespace) -> str:
    params: dict[str, Any] = {
        "status": args.status,
        "order": "oldest" if args.oldest else "newest",
        "limit": args.limit,
    }
    if args.event_type:
        params["type"] = args.event_type
    if args.cursor:
        params["cursor"] = args.cursor
    page = call(http, "GET", "", params=params)
    if args.json:
        return json.dumps(page, ensure_ascii=False, indent=2)
    rows = [("id", "status", "age", "type", "hospital", "complaint", "reason")]
    for item in page["items"]:
        rows.append(
            (
                item["id"],
                item["status"],
                age(item["age_seconds"]),
                item["event_type"],
                item["hospital_id"] or "-",
                item["complaint_id"] or "-",
                item["reason"],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]
    lines.append(f"parked now: {page['parked']}")
    if page["next_cursor"]:
        lines.append(f"more: --cursor {page['next_cursor']}")
    return "\n".join(lines)


def show(http: httpx.Client, args: argparse.Namespace) -> str:
    return json.dumps(call(http, "GET", f"/{args.id}"), ensure_ascii=False, indent=2)


def replay(http: httpx.Client, args: argparse.Namespace) -> str:
    if args.all:
        body: dict[str, Any] = {"operator": operator(args)}
        if args.event_type:
            body["event_type"] = args.event_type
        replayed: list[str] = []
        while True:  # rounds of at most 50, up to what was parked when the first began
            done = call(http, "POST", "/replay", json=body)
            replayed += done["replayed"]
            if not done["remaining"] or not done["replayed"]:
                break
            body["up_to"] = done["up_to"]
        return json.dumps({"replayed": len(replayed), "ids": replayed}, ensure_ascii=False)
    if args.event_type:
        raise CommandFailed("--type goes with --all")
    results = []
    for parked_id in args.ids:
        done = call(http, "POST", f"/{parked_id}/replay", json={"operator": operator(args)})
        results.append({"id": done["id"], "status": done["status"]})
    return json.dumps({"replayed": len(results), "ids": [r["id"] for r in results]})


def discard(http: httpx.Client, args: argparse.Namespace) -> str:
    body = {"reason": args.reason, "operator": operator(args)}
    return json.dumps(call(http, "POST", f"/{args.id}/discard", json=body), ensure_ascii=False)


def age(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


ACTIONS = {"list": list_parked, "show": show, "replay": replay, "discard": discard}
