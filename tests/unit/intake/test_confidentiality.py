"""The complainant's identity (投诉人身份信息保密): sealed per field with AES-256-GCM, bound to
its complaint and field, readable across a key rotation, and masked by the reader's role."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.domain.confidentiality import (
    IDENTITY_FIELDS,
    IdentityCipher,
    IdentityUnreadable,
    IdentityView,
    is_sealed,
    key_id,
    mask,
    mask_address,
    mask_email,
    mask_id_number,
    mask_name,
    mask_phone,
    view_for,
)

KEY = bytes(range(32))
OLD_KEY = bytes(range(100, 132))
CID = "c-8f2e"

ZHANG = {
    "name": "张三",
    "phone": "13812345678",
    "email": "zhangsan@example.org",
    "address": "浙江省杭州市西湖区文三路100号",
    "workplace": "杭州市某某建设集团有限公司",
    "id_number": "330106199001011234",
    "relation": "family",
    "sex": "male",
    "age": 52,
}


@pytest.fixture
def cipher() -> IdentityCipher:
    return IdentityCipher(KEY)


# --- sealing and opening ------------------------------------------------------------------


def test_round_trip(cipher: IdentityCipher) -> None:
    sealed = cipher.seal(CID, ZHANG)
    assert cipher.open(CID, sealed) == ZHANG


def test_sealed_fields_hold_no_plaintext(cipher: IdentityCipher) -> None:
    sealed = cipher.seal(CID, ZHANG)
    for field in IDENTITY_FIELDS:
        token = sealed[field]
        assert is_sealed(token)
        version, kid, body = token.split(":")
        assert (version, kid) == ("v1", hashlib.sha256(KEY).hexdigest()[:8])
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        # 12-byte nonce, the ciphertext, a 16-byte tag.
        assert len(raw) == 12 + len(ZHANG[field].encode()) + 16
        assert ZHANG[field] not in token
        assert ZHANG[field].encode() not in raw
    # Not identity: kept readable for statistics (relation, sex, age).
    assert {k: sealed[k] for k in ("relation", "sex", "age")} == {
        "relation": "family",
        "sex": "male",
        "age": 52,
    }


def test_seal_does_not_change_the_callers_dict(cipher: IdentityCipher) -> None:
    identity = dict(ZHANG)
    cipher.seal(CID, identity)
    assert identity == ZHANG


def test_absent_fields_stay_absent(cipher: IdentityCipher) -> None:
    """只留了电话的投诉人：没有姓名，也不会凭空多出姓名。"""
    sealed = cipher.seal(CID, {"phone": "13812345678", "name": None, "relation": "self"})
    assert sealed["name"] is None and "email" not in sealed
    assert cipher.open(CID, sealed) == {"phone": "13812345678", "name": None, "relation": "self"}


def test_identity_fields_must_be_text(cipher: IdentityCipher) -> None:
    with pytest.raises(TypeError, match="phone"):
        cipher.seal(CID, {"phone": 13812345678})


def test_every_seal_uses_a_fresh_nonce(cipher: IdentityCipher) -> None:
    tokens = {cipher.seal(CID, {"name": "张三"})["name"] for _ in range(200)}
    assert len(tokens) == 200
    nonces = {base64.urlsafe_b64decode(t.split(":")[2] + "==")[:12] for t in tokens}
    assert len(nonces) == 200


@settings(max_examples=60, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={field: st.text(max_size=60) for field in IDENTITY_FIELDS}
        | {"relation": st.sampled_from(["self", "family"]), "age": st.integers(0, 130)},
    ),
    st.text(min_size=1, max_size=40),
)
def test_any_identity_round_trips(identity: dict, complaint_id: str) -> None:
    cipher = IdentityCipher(KEY)
    assert cipher.open(complaint_id, cipher.seal(complaint_id, identity)) == identity


def _flip(token: str, index: int) -> str:
    version, kid, body = token.split(":")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[index] ^= 0x01
    return f"{version}:{kid}:{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"


@pytest.mark.parametrize(
    "index", [0, 11, 12, -17, -1], ids=["nonce", "nonce-end", "ct", "ct-end", "tag"]
)
def test_a_tampered_token_is_refused(cipher: IdentityCipher, index: int) -> None:
    sealed = cipher.seal(CID, ZHANG)
    sealed["phone"] = _flip(sealed["phone"], index)
    with pytest.raises(IdentityUnreadable, match="phone") as caught:
        cipher.open(CID, sealed)
    assert "13812345678" not in str(caught.value)


@pytest.mark.parametrize(
    "bad",
    ["13812345678", "v1:garbage", "v1:00000000", "v1:{kid}:", "v1:{kid}:AAAA", 12345],
    ids=["plaintext", "two-parts", "no-body", "empty-body", "truncated", "not-text"],
)
def test_a_malformed_token_is_refused(cipher: IdentityCipher, bad: object) -> None:
    if isinstance(bad, str):
        bad = bad.format(kid=cipher.current_key_id)
    with pytest.raises(IdentityUnreadable, match="name"):
        cipher.open(CID, {"name": bad})


def test_a_token_moved_to_another_complaint_is_refused(cipher: IdentityCipher) -> None:
    """把甲投诉的加密姓名复制到乙投诉：打不开。"""
    sealed = cipher.seal(CID, ZHANG)
    with pytest.raises(IdentityUnreadable, match="another complaint"):
        cipher.open("c-1a7b", sealed)


def test_a_token_moved_to_another_field_is_refused(cipher: IdentityCipher) -> None:
    """把电话的密文挪到姓名栏：打不开。"""
    sealed = cipher.seal(CID, ZHANG)
    swapped = sealed | {"name": sealed["phone"]}
    with pytest.raises(IdentityUnreadable, match="name"):
        cipher.open(CID, swapped)


def test_the_wrong_key_is_refused() -> None:
    sealed = IdentityCipher(KEY).seal(CID, ZHANG)
    with pytest.raises(IdentityUnreadable, match="does not hold"):
        IdentityCipher(OLD_KEY).open(CID, sealed)


def test_a_wrong_key_under_the_right_key_id_fails_authentication() -> None:
    """Even a forged key id does not let another key read the token."""
    sealed = IdentityCipher(KEY).seal(CID, {"name": "张三"})
    other = IdentityCipher(OLD_KEY)
    forged = sealed["name"].replace(key_id(KEY), key_id(OLD_KEY))
    with pytest.raises(IdentityUnreadable, match="failed authentication"):
        other.open(CID, {"name": forged})


def test_rotation_opens_old_tokens_and_seals_with_the_new_key() -> None:
    """换钥：旧密钥加密的记录仍可读，新记录用新密钥加密。"""
    before = IdentityCipher(OLD_KEY).seal(CID, ZHANG)
    rotated = IdentityCipher(KEY, previous=[OLD_KEY])
    assert rotated.open(CID, before) == ZHANG
    after = rotated.seal(CID, ZHANG)
    assert all(after[field].split(":")[1] == key_id(KEY) for field in IDENTITY_FIELDS)
    assert rotated.current_key_id == key_id(KEY)
    # Once the old key is retired, only what was re-sealed remains readable.
    retired = IdentityCipher(KEY)
    assert retired.open(CID, after) == ZHANG
    with pytest.raises(IdentityUnreadable):
        retired.open(CID, before)


def test_keys_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        IdentityCipher(b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        IdentityCipher(KEY, previous=[b"x" * 16])


def test_the_cipher_never_shows_its_key() -> None:
    assert KEY.hex() not in repr(IdentityCipher(KEY))
    assert str(list(KEY)) not in repr(IdentityCipher(KEY))


# --- the identity_key setting -------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        base64.b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode().rstrip("="),
        "  " + base64.b64encode(KEY).decode() + "\n",
    ],
    ids=["standard", "urlsafe", "unpadded", "whitespace"],
)
def test_the_setting_accepts_standard_or_urlsafe_base64(text: str) -> None:
    cipher = IdentityCipher.from_setting(text)
    assert cipher.current_key_id == key_id(KEY)
    assert IdentityCipher(KEY).open(CID, cipher.seal(CID, ZHANG)) == ZHANG


def test_a_key_with_url_characters_decodes_the_same_both_ways() -> None:
    key = bytes([0xFB, 0xFF] * 16)  # encodes with '+' and '/' or '-' and '_'
    assert "+" in base64.b64encode(key).decode() or "/" in base64.b64encode(key).decode()
    standard = IdentityCipher.from_setting(base64.b64encode(key).decode())
    urlsafe = IdentityCipher.from_setting(base64.urlsafe_b64encode(key).decode())
    assert standard.current_key_id == urlsafe.current_key_id == key_id(key)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "not base64 at all!", base64.b64encode(os.urandom(16)).decode(),
     base64.b64encode(os.urandom(33)).decode(), "changeme"],
    ids=["empty", "blank", "not-base64", "16-bytes", "33-bytes", "default-word"],
)  # fmt: skip
def test_a_bad_setting_names_identity_key(text: str) -> None:
    with pytest.raises(ValueError, match="identity_key") as caught:
        IdentityCipher.from_setting(text)
    if text.strip():
        assert text.strip() not in str(caught.value)  # a secret is never echoed


def test_previous_keys_come_from_the_setting_too() -> None:
    before = IdentityCipher(OLD_KEY).seal(CID, ZHANG)
    rotated = IdentityCipher.from_setting(
        base64.b64encode(KEY).decode(), previous=[base64.urlsafe_b64encode(OLD_KEY).decode()]
    )
    assert rotated.open(CID, before) == ZHANG
    with pytest.raises(ValueError, match="identity_previous_keys"):
        IdentityCipher.from_setting(base64.b64encode(KEY).decode(), previous=["short"])


# --- masking ------------------------------------------------------------------------------


# Each identity field's mask, and what it shows of some values.
MASKED: dict[Callable[[str], str], list[tuple[str, str]]] = {
    mask_name: [
        ("张三", "张*"),
        ("李小龙", "李**"),
        ("王", "*"),
        ("欧阳娜娜", "欧阳**"),
        ("司马相如", "司马**"),
        ("诸葛亮", "诸葛*"),
        ("欧阳", "欧*"),  # just two characters: the surname alone is not kept whole
        ("阿卜杜拉·买买提", "阿*******"),
        ("John Smith", "J*********"),
        ("", ""),
    ],
    mask_phone: [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("+8613812345678", "+86*******5678"),
        ("0571-87654321", "057*****4321"),  # 区号+座机
        ("87654321", "******21"),  # 短号码：只留末两位
        ("12345", "***45"),
        ("110", "*10"),
        ("12", "**"),
    ],
    mask_email: [
        ("zhangsan@example.org", "z***@example.org"),
        ("z@example.org", "z***@example.org"),  # the length is not given away
        ("王芳@例子.中国", "王***@例子.中国"),
        ("not-an-email", "n***"),
    ],
    mask_address: [
        ("浙江省杭州市西湖区文三路100号", "浙江省杭州市****"),
        ("杭州市西湖区文三路100号3幢", "杭州市西湖区****"),
        ("北京市朝阳区建国路88号", "北京市朝阳区****"),
        ("某某县人民医院", "某某县****"),  # short: at most half is kept
        ("文三路", "文****"),
    ],
    mask_id_number: [
        ("330106199001011234", "330106********1234"),
        ("11010519491231002X", "110105********002X"),
        ("330106900101123", "330106*****1123"),  # 15 位旧号码
        ("12345", "***45"),
    ],
}


@pytest.mark.parametrize(
    ("masker", "value", "shown"),
    [
        pytest.param(masker, value, shown, id=f"{masker.__name__}-{value}")
        for masker, cases in MASKED.items()
        for value, shown in cases
    ],
)
def test_each_identity_field_is_masked(
    masker: Callable[[str], str], value: str, shown: str
) -> None:
    assert masker(value) == shown


def test_masked_view_masks_every_identity_field_and_keeps_the_rest() -> None:
    assert mask(ZHANG, IdentityView.MASKED) == {
        "name": "张*",
        "phone": "138****5678",
        "email": "z***@example.org",
        "address": "浙江省杭州市****",
        "workplace": "杭州市某某建****",
        "id_number": "330106********1234",
        "relation": "family",
        "sex": "male",
        "age": 52,
    }


def test_masked_view_hides_every_plaintext_value() -> None:
    shown = mask(ZHANG, IdentityView.MASKED)
    for field in IDENTITY_FIELDS:
        assert shown[field] != ZHANG[field]


def test_full_and_none_views() -> None:
    full = mask(ZHANG, IdentityView.FULL)
    assert full == ZHANG and full is not ZHANG
    assert mask(ZHANG, IdentityView.NONE) is None
    assert mask(None, IdentityView.FULL) is None
    assert mask(None, IdentityView.MASKED) is None
    assert mask(ZHANG, "none") is None  # the stored code works as well as the enum


def test_masking_leaves_missing_fields_missing() -> None:
    assert mask({"phone": "13812345678", "name": None, "relation": "self"}, "masked") == {
        "phone": "138****5678",
        "name": None,
        "relation": "self",
    }


# --- who sees how much --------------------------------------------------------------------

ROLE_SETS = {
    "nobody": set(),
    "handler": {"handler"},
    "department_head": {"department_head"},
    "bureau": {"bureau"},
    "office": {"complaint_office"},
    "leadership": {"leadership"},
    "office+handler": {"complaint_office", "handler"},
}
ACTORS = [None, "s-001", "s-009"]
COMPLAINED_ABOUT = [None, "s-009"]


def expected_view(roles: set[str], actor: str | None, target: str | None, anon: bool) -> str:
    """The rule written out as the hospitals state it (docs/rules.md#confidentiality Q2)."""
    if anon:
        return "none"  # 匿名投诉：任何人都看不到身份
    if actor is not None and actor == target:
        return "none"  # 被投诉人本人：回避，防止打击报复
    if "complaint_office" in roles or "leadership" in roles:
        return "full"  # 投诉管理部门、院领导
    return "masked"  # 承办人、科主任、卫健委及其他


@pytest.mark.parametrize(
    ("roles", "actor", "target", "anon"),
    list(itertools.product(ROLE_SETS, ACTORS, COMPLAINED_ABOUT, [False, True])),
)
def test_view_for_every_combination(
    roles: str, actor: str | None, target: str | None, anon: bool
) -> None:
    view = view_for(roles=ROLE_SETS[roles], actor_id=actor, complained_about=target, anonymous=anon)
    assert view == expected_view(ROLE_SETS[roles], actor, target, anon)


@pytest.mark.parametrize(
    ("roles", "actor", "target", "anon", "view"),
    [
        ({"complaint_office"}, "s-001", "s-009", False, IdentityView.FULL),
        ({"leadership"}, "s-002", None, False, IdentityView.FULL),
        ({"handler"}, "s-003", "s-009", False, IdentityView.MASKED),
        ({"department_head"}, "s-004", "s-009", False, IdentityView.MASKED),
        (set(), None, None, False, IdentityView.MASKED),  # an unknown reader (the bureau's key)
        (set(), None, "s-009", False, IdentityView.MASKED),
        # 被投诉的恰好是投诉办工作人员：也不能看到投诉人。
        ({"complaint_office"}, "s-009", "s-009", False, IdentityView.NONE),
        ({"leadership"}, "s-009", "s-009", False, IdentityView.NONE),
        ({"handler"}, "s-009", "s-009", False, IdentityView.NONE),
        ({"complaint_office"}, "s-001", None, True, IdentityView.NONE),  # 匿名
        ({"leadership"}, "s-001", None, True, IdentityView.NONE),
    ],
)
def test_view_for_named_cases(
    roles: set[str], actor: str | None, target: str | None, anon: bool, view: IdentityView
) -> None:
    got = view_for(roles=roles, actor_id=actor, complained_about=target, anonymous=anon)
    assert got is view


def test_no_actor_and_no_target_is_not_the_same_person() -> None:
    """None == None must not count as 'the person complained about'."""
    assert (
        view_for(roles={"complaint_office"}, actor_id=None, complained_about=None, anonymous=False)
        is IdentityView.FULL
    )
