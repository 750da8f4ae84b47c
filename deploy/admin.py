"""`huiyin-admin load-region FILE`: validate a region file and load it into every service
that keeps a copy: routing (hospitals, departments, staff, rules: whom to route to),
intake (staff and their roles: who may act on a case) and notification (the contact book,
section `notification:`: channels per audience, phones, group robots, webhooks, templates).

Run it again after editing the file; both copies are replaced hospital by hospital.

`huiyin-admin parked list|show|replay|discard --service NAME`: a service's parked messages,
through its admin API (deploy/parked.py).

`huiyin-admin assertion-keys register|list|revoke --hospital ID`: the public keys a
hospital's system signs staff assertions with, through intake's admin API
(deploy/assertion_keys.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from deploy import assertion_keys, parked
from services.intake.adapters.staff_directory import StaffDirectory
from services.notification.admin import load_contacts, read_contacts
from services.routing.admin import load_region as load_routing_region
from services.routing.settings import RoutingSettings
from shared.runtime import mongo_client

INTAKE_DATABASE = "huiyin_intake"
NOTIFICATION_DATABASE = "huiyin_notification"


async def load_region(
    path: Path,
    settings: RoutingSettings,
    *,
    intake_database: str | None = None,
    notification_database: str | None = None,
) -> dict[str, int]:
    """Routing's copy first: it validates the whole file before anything is stored
    (notification's contact book is checked before that, and stored last)."""
    raw: dict[str, Any] = yaml.safe_load(await asyncio.to_thread(path.read_text, "utf-8"))
    contacts = read_contacts(raw)
    counts = await load_routing_region(path, settings)
    client = mongo_client(settings.mongo_url)
    try:
        database = intake_database or os.environ.get("HUIYIN_INTAKE_DATABASE", INTAKE_DATABASE)
        directory = StaffDirectory(client[database])
        counts["intake_staff"] = await directory.load(raw["hospitals"])
        counts["intake_supervisors"] = await directory.load_bureau(raw.get("bureau") or {})
    finally:
        await client.close()
    notification = notification_database or os.environ.get(
        "HUIYIN_NOTIFICATION_DATABASE", NOTIFICATION_DATABASE
    )
    counts |= await load_contacts(contacts, mongo_url=settings.mongo_url, database=notification)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="huiyin-admin", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("load-region", help="load hospitals, departments and staff")
    load.add_argument("file", type=Path)
    parked.add_parser(commands)
    assertion_keys.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "parked":
        return parked.run(args)
    if args.command == "assertion-keys":
        return assertion_keys.run(args)
    try:
        counts = asyncio.run(load_region(args.file, RoutingSettings()))
    except ValidationError as error:
        print(f"region file {args.file} is invalid:\n{error}", file=sys.stderr)
        return 2
    print(json.dumps({"loaded": counts}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
