"""The complainant's identity: encrypted at rest, and shown to each reader only as much as
their role allows (pure: no I/O).

docs/rules.md#confidentiality: the complainant's identity, unit, address and
phone are confidential, never shown to the person complained about, and an anonymous
wish is respected (Q1, Q2 there). A database dump or a backup therefore holds
only tokens; the complaint office and leadership see the identity, other staff see it
masked, and the person complained about and readers of anonymous cases see nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.intake.domain.authority import LEADERSHIP, OFFICE

# docs/rules.md#confidentiality Q1: identity, unit (工作单位), address and phone are confidential.
IDENTITY_FIELDS: tuple[str, ...] = (
    "name",
    "phone",
    "email",
    "address",
    "workplace",
    "id_number",
)

TOKEN_VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
# Part of every token's associated data: changing it makes every stored token unreadable.
_AAD_DOMAIN = "huiyin.intake.identity.v1"


class IdentityUnreadable(Exception):
    """A stored identity field could not be opened: tampered, moved, or sealed with a key
    this service no longer has. The message names the field, never its value."""


def key_id(key: bytes) -> str:
    """A short, non-secret name for a key, carried in tokens so rotation knows which to use."""
    return hashlib.sha256(key).hexdigest()[:8]


def _decode_key(text: str, setting: str) -> bytes:
    """base64 (standard or URL-safe, padding optional) of exactly 32 bytes."""
    compact = "".join(text.split())
    if not compact:
        raise ValueError(f"{setting} is empty: it must be base64 of {KEY_BYTES} random bytes")
    standard = compact.replace("-", "+").replace("_", "/")
    standard += "=" * (-len(standard) % 4)
    try:
        key = base64.b64decode(standard, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{setting} is not valid base64 (of {KEY_BYTES} random bytes)") from None
    if len(key) != KEY_BYTES:
        raise ValueError(
            f"{setting} must be base64 of {KEY_BYTES} bytes (AES-256), it decodes to {len(key)}"
        )
    return key


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def is_sealed(value: Any) -> bool:
    """Whether a stored value looks like a token (it may still fail to open)."""
    return isinstance(value, str) and value.startswith(f"{TOKEN_VERSION}:")


class IdentityCipher:
    """AES-256-GCM over each identity field; tokens read ``v1:<kid>:<base64(nonce|ct)>``.

    The associated data binds each token to its complaint and field, so a token copied
    into another complaint (or from phone into name) does not open. After a rotation the
    current key seals and every key in ``previous`` still opens what it sealed.
    """

    def __init__(self, key: bytes, previous: Iterable[bytes] = ()) -> None:
        keys = [key, *previous]
        for candidate in keys:
            if not isinstance(candidate, bytes) or len(candidate) != KEY_BYTES:
                raise ValueError(f"identity keys must be {KEY_BYTES} bytes (AES-256)")
        self._current = key_id(key)
        self._keys: dict[str, AESGCM] = {}
        for candidate in keys:
            self._keys.setdefault(key_id(candidate), AESGCM(candidate))

    @classmethod
    def from_setting(cls, text: str, previous: Iterable[str] = ()) -> IdentityCipher:
        """Build from the ``identity_key`` setting (and ``identity_previous_keys``)."""
        key = _decode_key(text, "identity_key")
        older = [_decode_key(item, "identity_previous_keys") for item in previous]
        return cls(key, previous=older)

    @property
    def current_key_id(self) -> str:
        return self._current

    def __repr__(self) -> str:  # never the key itself
        return f"IdentityCipher(current={self._current}, keys={len(self._keys)})"

    @staticmethod
    def _aad(complaint_id: str, field: str) -> bytes:
        return f"{_AAD_DOMAIN}\x00{complaint_id}\x00{field}".encode()

    def seal(self, complaint_id: str, identity: Mapping[str, Any]) -> dict[str, Any]:
        """A copy with every present identity field replaced by a token; other keys as-is.

        Seal plaintext once: a token given again is encrypted again, not recognised.
        """
        sealed = dict(identity)
        for field in IDENTITY_FIELDS:
            value = identity.get(field)
            if value is None:
                continue
            if not isinstance(value, str):
                raise TypeError(f"identity field {field} must be text, got {type(value).__name__}")
            nonce = os.urandom(NONCE_BYTES)
            ciphertext = self._keys[self._current].encrypt(
                nonce, value.encode(), self._aad(complaint_id, field)
            )
            sealed[field] = f"{TOKEN_VERSION}:{self._current}:{_b64(nonce + ciphertext)}"
        return sealed

    def open(self, complaint_id: str, sealed: Mapping[str, Any]) -> dict[str, Any]:
        """The plaintext identity; raises IdentityUnreadable naming the field that fails."""
        opened = dict(sealed)
        for field in IDENTITY_FIELDS:
            token = sealed.get(field)
            if token is None:
                continue
            opened[field] = self._open_field(complaint_id, field, token)
        return opened

    def _open_field(self, complaint_id: str, field: str, token: Any) -> str:
        if not is_sealed(token):
            raise IdentityUnreadable(f"complainant {field} is not a sealed token")
        parts = token.split(":")
        if len(parts) != 3:
            raise IdentityUnreadable(f"complainant {field} is not a well-formed v1 token")
        _, kid, body = parts
        aead = self._keys.get(kid)
        if aead is None:
            raise IdentityUnreadable(
                f"complainant {field} was sealed with key {kid}, which this service does not "
                "hold (add it to identity_previous_keys)"
            )
        try:
            raw = _unb64(body)
        except (binascii.Error, ValueError):
            raise IdentityUnreadable(f"complainant {field} token is not valid base64") from None
        if len(raw) < NONCE_BYTES + 16:
            raise IdentityUnreadable(f"complainant {field} token is truncated")
        try:
            plain = aead.decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._aad(complaint_id, field)
            )
        except InvalidTag:
            raise IdentityUnreadable(
                f"complainant {field} failed authentication: altered, or moved from another "
                "complaint or field"
            ) from None
        return plain.decode()


# --- who sees how much --------------------------------------------------------------------


class IdentityView(StrEnum):
    FULL = "full"
    MASKED = "masked"
    NONE = "none"


# Roles that run the case and answer for the complainant's protection.
FULL_VIEW_ROLES: frozenset[str] = frozenset({OFFICE, LEADERSHIP})


def view_for(
    *,
    roles: Iterable[str],
    actor_id: str | None,
    complained_about: str | None,
    anonymous: bool,
) -> IdentityView:
    """How much of the complainant this reader may see.

    An anonymous wish and the person complained about (回避, no retaliation) come first,
    whatever that person's role; then the complaint office and leadership see everything;
    handlers, department heads, the bureau and unknown readers see a masked identity.
    """
    if anonymous:
        return IdentityView.NONE
    if actor_id is not None and actor_id == complained_about:
        return IdentityView.NONE
    if FULL_VIEW_ROLES & set(roles):
        return IdentityView.FULL
    return IdentityView.MASKED


# 复姓: a compound surname stays whole, so "欧阳娜娜" reads "欧阳**" rather than "欧***".
COMPOUND_SURNAMES: frozenset[str] = frozenset(
    {
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
        "宇文", "司徒", "司空", "夏侯", "令狐", "澹台", "轩辕", "独孤", "南宫", "西门",
        "端木", "百里", "呼延", "申屠", "太史", "闻人", "万俟", "濮阳", "钟离", "赫连",
        "拓跋", "东郭", "公冶", "左丘", "第五", "谷梁", "宰父", "仲孙", "单于", "羊舌",
    }
)  # fmt: skip


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧阳**; a one-character name is fully starred."""
    if len(name) <= 1:
        return "*" * len(name)
    kept = 2 if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES else 1
    return name[:kept] + "*" * (len(name) - kept)


def mask_phone(phone: str) -> str:
    """13812345678 → 138****5678; a short number keeps only its last two digits."""
    compact = "".join(ch for ch in phone if ch not in " -")
    if len(compact) >= 11:
        return compact[:3] + "*" * (len(compact) - 7) + compact[-4:]
    if len(compact) <= 2:
        return "*" * len(compact)
    return "*" * (len(compact) - 2) + compact[-2:]


def mask_email(email: str) -> str:
    """zhangsan@example.org → z***@example.org (the length of the name is hidden too)."""
    local, at, domain = email.partition("@")
    if not at:
        return email[:1] + "***"
    return f"{local[:1]}***@{domain}"


def mask_address(address: str) -> str:
    """浙江省杭州市西湖区文三路 → 浙江省杭州市****: province and city (or city and district)
    remain; a short address keeps at most half, so it is never shown whole."""
    kept = min(6, len(address) // 2)
    return address[:kept] + "****"


def mask_id_number(id_number: str) -> str:
    """330106199001011234 → 330106********1234 (region code and last four)."""
    if len(id_number) >= 15:
        return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]
    return mask_phone(id_number) if id_number else id_number


MASKS = {
    "name": mask_name,
    "phone": mask_phone,
    "email": mask_email,
    "address": mask_address,
    "workplace": mask_address,
    "id_number": mask_id_number,
}


def mask(identity: Mapping[str, Any] | None, view: IdentityView) -> dict[str, Any] | None:
    """The opened identity as this view shows it; other keys (relation, sex, age) as-is."""
    view = IdentityView(view)
    if identity is None or view is IdentityView.NONE:
        return None
    shown = dict(identity)
    if view is IdentityView.FULL:
        return shown
    for field, rule in MASKS.items():
        value = shown.get(field)
        if isinstance(value, str):
            shown[field] = rule(value)
    return shown
