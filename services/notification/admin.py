"""Reading the region file's contact book and loading it into notification's store;
`huiyin-admin load-region` (deploy/admin.py) checks it before any service stores its copy,
and loads it with the others."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.notification.adapters.contact_book import ContactBook
from services.notification.domain.contacts import RegionContacts, Scope
from shared.runtime import mongo_client


def read_contacts(raw_region: Mapping[str, Any]) -> list[Scope]:
    """The region file (as parsed YAML) as notification's scopes; pydantic's
    ValidationError names the first fault (an unknown staff member, group or placeholder)."""
    return RegionContacts.model_validate(raw_region).scopes()


async def load_contacts(scopes: list[Scope], *, mongo_url: str, database: str) -> dict[str, int]:
    client = mongo_client(mongo_url)
    try:
        count = await ContactBook(client[database]).load(scopes)
    finally:
        await client.close()
    return {"notification_contacts": count}
