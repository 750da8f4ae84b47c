"""`huiyin-admin assertion-keys register|list|revoke --hospital ID`: the public keys a
hospital's system signs staff assertions with (shared/staff_assertion.py).

It calls intake's admin API with the bureau's key, so intake stays the one writer of its
keys, a revocation takes effect at once in the intake that answers (within seconds in the
others), and every change is recorded under the bureau's principal.

    HUIYIN_ADMIN_KEY   the bureau's API key (clear; never on the command line)
    HUIYIN_INTAKE_URL  default http://127.0.0.1:8001

    # the hospital keeps the private key; the bureau receives only the public one
    openssl genpkey -algorithm ed25519 -out hz-001-staff.pem
    openssl pkey -in hz-001-staff.pem -pubout -out hz-001-staff.pub.pem
    huiyin-admin assertion-keys register --hospital hz-001 --public-key hz-001-staff.pub.pem
    huiyin-admin assertion-keys list --hospital hz-001
    huiyin-admin assertion-keys revoke --hospital hz-001 KID --reason "私钥泄露"
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import httpx

from deploy import admin_api
from deploy.admin_api import CommandFailed, bureau_client, call

URL_VARIABLE = "HUIYIN_INTAKE_URL"


def add_parser(commands: Any) -> None:
    """Register `assertion-keys` and its actions on huiyin-admin's sub-commands."""
    action = admin_api.add_command(
        commands,
        "assertion-keys",
        help="register, list or revoke a hospital's staff-assertion keys",
        description=__doc__,
        common=_which_hospital,
    )
    register = action("register", "register a public key (PEM file; Ed25519 or P-256)")
    register.add_argument("--public-key", required=True, type=Path, help="PEM public key file")
    register.add_argument("--kid", help="key id the hospital sends (default: thumbprint)")
    register.add_argument("--note", help="e.g. HIS 2026")
    action("list", "the hospital's keys, revoked ones included")
    revoke = action("revoke", "refuse every assertion this key signs from now on")
    revoke.add_argument("kid")
    revoke.add_argument("--reason", required=True, help="why, e.g. 私钥泄露 or 轮换")


def _which_hospital(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hospital", required=True, help="hospital id, e.g. hz-001")
    parser.add_argument("--url", help=f"intake's base URL (else {URL_VARIABLE})")


def run(args: argparse.Namespace) -> int:
    return admin_api.run("assertion-keys", args, client=client, actions=ACTIONS)


def client(args: argparse.Namespace) -> httpx.Client:
    return bureau_client(args.url or os.environ.get(URL_VARIABLE) or "http://127.0.0.1:8001")


def _path(args: argparse.Namespace) -> str:
    return f"/v1/admin/hospitals/{args.hospital}/assertion-keys"


def register(http: httpx.Client, args: argparse.Namespace) -> str:
    try:
        pem = args.public_key.read_text(encoding="utf-8")
    except OSError as error:
        raise CommandFailed(f"cannot read {args.public_key}: {error}") from error
    body = {"public_key": pem, "kid": args.kid, "note": args.note}
    record = call(http, "POST", _path(args), json={k: v for k, v in body.items() if v})
    return json.dumps(_summary(record), ensure_ascii=False)


def list_keys(http: httpx.Client, args: argparse.Namespace) -> str:
    records = call(http, "GET", _path(args))["items"]
    return json.dumps([_summary(record) for record in records], ensure_ascii=False, indent=2)


def revoke(http: httpx.Client, args: argparse.Namespace) -> str:
    record = call(http, "POST", f"{_path(args)}/{args.kid}/revoke", json={"reason": args.reason})
    return json.dumps(_summary(record), ensure_ascii=False)


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "public_key"}


ACTIONS = {"register": register, "list": list_keys, "revoke": revoke}
