"""API keys: parsing HUIYIN_API_KEYS, authenticating, and the hospital boundary."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import errors
from shared.auth import BUREAU, ApiKeyring, CurrentPrincipal, Principal, hash_key

K1, K2 = "k-hz-001-0123456789", "k-bureau-9876543210"
H1, H2 = hash_key(K1), hash_key(K2)


# --- parsing ------------------------------------------------------------------------------


def test_hash_key_is_the_sha256_hex_of_the_utf8_key() -> None:
    assert hash_key("密钥") == hashlib.sha256("密钥".encode()).hexdigest()
    assert len(hash_key("")) == 64


def test_several_entries_with_spaces_and_empty_parts() -> None:
    ring = ApiKeyring(f" hz-001:{H1} ,, bureau:{H2} ,")
    assert ring.authenticate(K1) == Principal("hz-001")
    assert ring.authenticate(K2) == Principal("bureau")


def test_upper_case_digests_are_accepted() -> None:
    assert ApiKeyring(f"hz-001:{H1.upper()}").authenticate(K1) == Principal("hz-001")


@pytest.mark.parametrize("spec", ["", " ", ",", " , ,"])
def test_an_empty_configuration_lets_nobody_in(spec: str) -> None:
    ring = ApiKeyring(spec)
    assert ring.authenticate("") is None and ring.authenticate(K1) is None


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("hz-001", "without a colon"),  # maybe a pasted clear key: never echoed
        ("hz-001:", "'hz-001'"),
        ("hz-001:abc", "'hz-001'"),  # too short
        (f"hz-001:{H1}0", "'hz-001'"),  # too long
        (f":{H1}", "''"),  # no principal
    ],
)
def test_a_bad_entry_is_refused_naming_it(spec: str, named: str) -> None:
    with pytest.raises(ValueError) as raised:
        ApiKeyring(spec)
    message = str(raised.value)
    assert "HUIYIN_API_KEYS" in message and named in message
    assert "principal:sha256hex" in message  # says what was expected


def test_the_bad_entry_is_named_among_good_ones() -> None:
    with pytest.raises(ValueError, match="'hz-002'"):
        ApiKeyring(f"hz-001:{H1},hz-002:deadbeef,bureau:{H2}")


def test_a_digest_that_is_not_hex_is_refused() -> None:
    with pytest.raises(ValueError, match="hz-001"):
        ApiKeyring("hz-001:" + "g" * 64)


def test_one_digest_for_two_principals_is_refused() -> None:
    with pytest.raises(ValueError, match="hz-00"):
        ApiKeyring(f"hz-001:{H1},hz-002:{H1}")


def test_spaces_around_the_principal_do_not_create_a_new_principal() -> None:
    try:
        ring = ApiKeyring(f"hz-001 :{H1}")
    except ValueError:
        return  # refusing it is also correct
    principal = ring.authenticate(K1)
    assert principal is not None and principal.may_see("hz-001")


def test_from_clear_keys_builds_the_same_ring_as_the_hashed_spec() -> None:
    clear = ApiKeyring.from_clear_keys({"hz-001": K1, "bureau": K2})
    hashed = ApiKeyring(f"hz-001:{H1},bureau:{H2}")
    for key in (K1, K2, "other"):
        assert clear.authenticate(key) == hashed.authenticate(key)


# --- authenticate -------------------------------------------------------------------------


def test_only_the_exact_key_authenticates() -> None:
    ring = ApiKeyring.from_clear_keys({"hz-001": K1})
    assert ring.authenticate(K1) == Principal("hz-001")
    for near in ("", K1.upper(), K1 + " ", " " + K1, K1[:-1], H1):
        assert ring.authenticate(near) is None, near


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=40))
def test_unknown_keys_never_authenticate(key: str) -> None:
    ring = ApiKeyring.from_clear_keys({"hz-001": K1, "bureau": K2})
    assert ring.authenticate(key) is None


# --- the hospital boundary ----------------------------------------------------------------


def test_the_bureau_sees_every_hospital() -> None:
    bureau = Principal(BUREAU)
    assert bureau.is_bureau and bureau.hospital_id is None
    assert all(bureau.may_see(h) for h in ("hz-001", "hz-002", "sz-999"))


@pytest.mark.parametrize("other", ["hz-002", "hz-0010", "hz-00", "HZ-001", "bureau", ""])
def test_a_hospital_sees_only_itself(other: str) -> None:
    hospital = Principal("hz-001")
    assert not hospital.is_bureau and hospital.hospital_id == "hz-001"
    assert hospital.may_see("hz-001")
    assert not hospital.may_see(other)


def test_bureau_is_an_exact_name() -> None:
    for lookalike in ("Bureau", "BUREAU", "bureau ", "bureau-1"):
        assert not Principal(lookalike).is_bureau
        assert not Principal(lookalike).may_see("hz-001")


def test_principals_are_values() -> None:
    assert Principal("hz-001") == Principal("hz-001")
    assert len({Principal("hz-001"), Principal("hz-001")}) == 1
    with pytest.raises(AttributeError):
        Principal("hz-001").name = "bureau"


@pytest.mark.parametrize("hospital", ["hz-001", "hz-002"])
def test_the_bureau_acts_for_any_hospital_it_names(hospital: str) -> None:
    bureau = Principal(BUREAU)
    assert bureau.acts_for(hospital) == hospital
    assert bureau.hospital_scope(hospital) == hospital
    assert bureau.hospital_scope(None) is None  # every hospital


def test_a_hospital_acts_for_itself_whether_it_names_itself_or_not() -> None:
    hospital = Principal("hz-001")
    assert hospital.acts_for("hz-001") == "hz-001"
    assert hospital.hospital_scope("hz-001") == hospital.hospital_scope(None) == "hz-001"


@pytest.mark.parametrize("other", ["hz-002", "HZ-001", "bureau"])
def test_naming_another_hospital_is_the_shared_403(other: str) -> None:
    hospital = Principal("hz-001")
    for scoped in (hospital.acts_for, hospital.hospital_scope):
        with pytest.raises(errors.ApiError) as refused:
            scoped(other)
        assert refused.value.status_code == 403
        assert refused.value.body.code == "forbidden"
        assert refused.value.body.message == "hospital_id: not your hospital"


def test_only_the_bureau_passes_a_bureau_only_check() -> None:
    Principal(BUREAU).only_bureau("loads the calendar")
    with pytest.raises(errors.ApiError) as refused:
        Principal("hz-001").only_bureau("registers keys", code="not_permitted")
    assert refused.value.status_code == 403
    assert refused.value.body.code == "not_permitted"
    assert refused.value.body.message == "only the bureau registers keys"


# --- the FastAPI dependency (in-process ASGI, no server) ----------------------------------


def _app() -> FastAPI:
    app = FastAPI()
    errors.install(app)  # as build_app does: ApiError becomes the shared error shape
    app.state.keyring = ApiKeyring.from_clear_keys({"hz-001": K1, "bureau": K2})

    @app.get("/whoami")
    async def whoami(principal: CurrentPrincipal) -> dict[str, str | None]:
        return {"name": principal.name, "hospital": principal.hospital_id}

    return app


async def _get(headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/whoami", headers=headers)


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": f"Bearer {K1}"}, {"X-API-Key": K1}],
    ids=["bearer", "x-api-key"],
)
async def test_a_key_in_either_header_identifies_the_hospital(headers: dict[str, str]) -> None:
    response = await _get(headers)
    assert response.status_code == 200
    assert response.json() == {"name": "hz-001", "hospital": "hz-001"}


async def test_the_bearer_header_wins_over_x_api_key() -> None:
    response = await _get({"Authorization": f"Bearer {K2}", "X-API-Key": K1})
    assert response.json() == {"name": "bureau", "hospital": None}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}],
    ids=["none", "bad-bearer", "bad-x-api-key", "empty"],
)
async def test_missing_or_unknown_keys_get_401_with_a_challenge(headers: dict[str, str]) -> None:
    response = await _get(headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert K1 not in response.text and K2 not in response.text
