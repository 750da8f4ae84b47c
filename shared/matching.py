"""Matching a person across complaints without keeping who they are: a keyed hash
(HMAC-SHA256) of the identity, the same for the same person wherever it is computed.

Intake computes the complainant's (`complainant_key`, carried by complaint.received) where
the identity is known; reporting computes the person complained about's from the staff id
and counts recurrences by these keys alone (services/reporting/domain/analysis.py). The
key (HUIYIN_MATCH_KEY, the same in intake and reporting) makes the hash useless to anyone
without it: a phone number has too few digits for an unkeyed hash to hide it. Changing
the key starts every match afresh (earlier keys never match new ones).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

# Development and demo only: both services refuse it in production (their settings).
DEV_MATCH_KEY = "huiyin-dev-match-key-not-secret"
KEY_HEX = 32  # 128 bits of the digest: no collisions at any region's scale, short fields


def keyed_hash(secret: str, kind: str, value: str) -> str:
    """`kind` keeps a staff id and a phone number that happen to be equal apart."""
    digest = hmac.new(secret.encode(), f"{kind}\x1f{value}".encode(), hashlib.sha256)
    return digest.hexdigest()[:KEY_HEX]


def _phone(text: str) -> str | None:
    digits = re.sub(r"\D", "", text)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits or None


def complainant_key(secret: str, identity: Mapping[str, Any] | None) -> str | None:
    """The complainant's match key: from the phone number (digits, without +86), else the
    ID number, else the e-mail address; None for an anonymous complainant or a name alone
    (many people share a name: matching on it would join strangers)."""
    identity = identity or {}
    phone = _phone(str(identity.get("phone") or ""))
    if phone:
        return keyed_hash(secret, "phone", phone)
    id_number = str(identity.get("id_number") or "").strip().upper()
    if id_number:
        return keyed_hash(secret, "id_number", id_number)
    email = str(identity.get("email") or "").strip().lower()
    if email:
        return keyed_hash(secret, "email", email)
    return None


def staff_key(secret: str, staff_id: str) -> str:
    return keyed_hash(secret, "staff", staff_id)
