"""API-key authentication and the hospital boundary.

Keys are configured as `principal:sha256(key)` pairs (HUIYIN_API_KEYS), so the clear key
lives only with its holder. The principal `bureau` sees every hospital; any other
principal is a hospital id and sees only its own complaints.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.errors import forbidden, unauthorized

BUREAU = "bureau"
HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class Principal:
    """Who calls: the bureau, or one hospital. The hospital boundary is checked here and
    nowhere else: `acts_for` (a request about one named hospital), `hospital_scope` (a
    request that may name one), `may_see` (a stored record's hospital, where the caller
    answers 404 rather than reveal another hospital's record) and `only_bureau`."""

    name: str

    @property
    def is_bureau(self) -> bool:
        return self.name == BUREAU

    @property
    def hospital_id(self) -> str | None:
        return None if self.is_bureau else self.name

    def may_see(self, hospital_id: str) -> bool:
        return self.is_bureau or self.name == hospital_id

    def acts_for(self, hospital_id: str) -> str:
        """The hospital a request about `hospital_id` acts on: any for the bureau, a
        hospital's own for a hospital (another's is a 403)."""
        if not self.may_see(hospital_id):
            raise forbidden("hospital_id: not your hospital")
        return hospital_id

    def hospital_scope(self, requested: str | None = None) -> str | None:
        """The hospital a request of this principal is about: a hospital's own (naming
        another is a 403), or for the bureau the one it names (None: every hospital)."""
        if requested:
            return self.acts_for(requested)
        return None if self.is_bureau else self.name

    def only_bureau(self, does: str, *, code: str = "forbidden") -> None:
        """A 403 for anyone but the bureau: "only the bureau `does`"."""
        if not self.is_bureau:
            raise forbidden(f"only the bureau {does}", code=code)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyring:
    def __init__(self, spec: str) -> None:
        self._by_hash: dict[str, Principal] = {}
        for pair in filter(None, (part.strip() for part in spec.split(","))):
            principal, colon, digest = (part.strip() for part in pair.partition(":"))
            named = repr(principal) if colon else "without a colon"  # never echo a clear key
            if not principal or not HEX_DIGEST.fullmatch(digest):
                raise ValueError(f"HUIYIN_API_KEYS entry {named} is not principal:sha256hex")
            digest = digest.lower()
            if digest in self._by_hash:
                raise ValueError(
                    f"HUIYIN_API_KEYS entries {self._by_hash[digest].name!r} and {named} "
                    "share one key hash; give each principal its own key"
                )
            self._by_hash[digest] = Principal(principal)

    @classmethod
    def from_clear_keys(cls, keys: dict[str, str]) -> ApiKeyring:
        return cls(",".join(f"{name}:{hash_key(key)}" for name, key in keys.items()))

    def authenticate(self, key: str) -> Principal | None:
        return self._by_hash.get(hash_key(key))


_bearer = HTTPBearer(auto_error=False, description="API key issued to a hospital or the bureau")


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    key = credentials.credentials if credentials else request.headers.get("x-api-key")
    keyring: ApiKeyring = request.app.state.keyring
    principal = keyring.authenticate(key) if key else None
    if principal is None:
        raise unauthorized("missing or unknown API key")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
