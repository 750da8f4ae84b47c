"""`huiyin-admin load-region FILE`: validate a region file and load it into routing's store."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import yaml
from pydantic import ValidationError

from services.routing.adapters.region_store import RegionStore
from services.routing.domain.region import Region
from services.routing.settings import RoutingSettings
from shared.runtime import mongo_client


def read_region(path: Path) -> Region:
    return Region.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


async def load_region(path: Path, settings: RoutingSettings) -> dict[str, int]:
    region = read_region(path)
    client = mongo_client(settings.mongo_url)
    try:
        return await RegionStore(client[settings.database]).load(region)
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="huiyin-admin", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("load-region", help="load hospitals, departments and staff")
    load.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    try:
        counts = asyncio.run(load_region(args.file, RoutingSettings()))
    except ValidationError as error:
        print(f"region file {args.file} is invalid:\n{error}", file=sys.stderr)
        return 2
    print(json.dumps({"loaded": counts}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
