"""What every `huiyin-admin` command that calls a service's admin API shares: its actions
as sub-commands, the bureau's key from the environment (never the command line), one
client, errors in the shared error shape turned into one line for the operator, and the
exit code."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import httpx

KEY_VARIABLE = "HUIYIN_ADMIN_KEY"

Action = Callable[[httpx.Client, argparse.Namespace], str]
AddAction = Callable[[str, str], argparse.ArgumentParser]


class CommandFailed(Exception):
    pass


def add_command(
    commands: Any,
    name: str,
    *,
    help: str,
    description: str | None,
    common: Callable[[argparse.ArgumentParser], None],
) -> AddAction:
    """Register `huiyin-admin <name>` on huiyin-admin's sub-commands, and give back how to
    add one of its actions, `action(name, text)`, each with the arguments `common` adds."""
    command = commands.add_parser(
        name,
        help=help,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = command.add_subparsers(dest="action", required=True)

    def action(name: str, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=text, description=text)
        common(parser)
        return parser

    return action


def bureau_client(url: str, *, timeout: float = 30) -> httpx.Client:
    key = os.environ.get(KEY_VARIABLE)
    if not key:
        raise CommandFailed(f"set {KEY_VARIABLE} to the bureau's API key")
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout)


def call(http: httpx.Client, method: str, path: str, **request: Any) -> Any:
    """The JSON answer, or CommandFailed with the service's own message."""
    try:
        response = http.request(method, path, **request)
    except httpx.HTTPError as error:
        raise CommandFailed(f"{http.base_url} did not answer: {error}") from error
    if response.is_error:
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        raise CommandFailed(f"{response.status_code}: {message}")
    return response.json()


def run(
    command: str,
    args: argparse.Namespace,
    *,
    client: Callable[[argparse.Namespace], httpx.Client],
    actions: Mapping[str, Action],
) -> int:
    """Run the chosen action; print its output, or the failure on stderr (exit 1)."""
    try:
        with client(args) as http:
            output = actions[args.action](http, args)
    except CommandFailed as failure:
        print(f"huiyin-admin {command} {args.action}: {failure}", file=sys.stderr)
        return 1
    print(output)
    return 0
