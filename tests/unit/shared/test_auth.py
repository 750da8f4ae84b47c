"""API keys: hashed in configuration, one principal per hospital, the bureau sees all."""

from __future__ import annotations

import pytest

from shared.auth import ApiKeyring, Principal, hash_key


def test_keys_authenticate_to_their_principal() -> None:
    ring = ApiKeyring.from_clear_keys({"hz-001": "k1", "bureau": "k2"})
    assert ring.authenticate("k1") == Principal("hz-001")
    assert ring.authenticate("k2") == Principal("bureau")
    assert ring.authenticate("k3") is None


def test_configuration_holds_only_hashes() -> None:
    spec = f"hz-001:{hash_key('secret')}"
    assert "secret" not in spec
    assert ApiKeyring(spec).authenticate("secret") == Principal("hz-001")
    assert ApiKeyring(spec.upper().replace("HZ-001", "hz-001")).authenticate("secret")


@pytest.mark.parametrize("spec", ["hz-001", "hz-001:abc", ":" + "a" * 64])
def test_bad_entries_are_named(spec: str) -> None:
    with pytest.raises(ValueError, match="HUIYIN_API_KEYS"):
        ApiKeyring(spec)


def test_the_hospital_boundary() -> None:
    hospital, bureau = Principal("hz-001"), Principal("bureau")
    assert hospital.may_see("hz-001") and not hospital.may_see("hz-002")
    assert hospital.hospital_id == "hz-001" and not hospital.is_bureau
    assert bureau.may_see("hz-002") and bureau.hospital_id is None
