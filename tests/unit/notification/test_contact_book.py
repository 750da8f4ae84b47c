"""The contact book (domain/contacts.py): the region file's `notification:` section checked
as a whole when loaded, and the addresses each notice goes to: the audience's channels or
the person's own, its groups once per event, the bureau's supervisors from the bureau's
part; secrets never in a repr or a plain dump."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from services.notification.domain.contacts import (
    RegionContacts,
    Scope,
    addresses_for,
    routes,
)
from services.notification.domain.messages import Message, RecipientRole
from services.notification.domain.notices import notices_for
from shared.contracts import DeliveryChannel, Person
from tests.support import events as sample

REGION_FILE = Path(__file__).resolve().parents[3] / "deploy" / "region.example.yaml"
WHSEC = "whsec_" + base64.b64encode(b"a-hospital-webhook-secret-32byte").decode()
LEADER = Person(
    staff_id="hz-001-leadership-1", name="郑国华", email="vice-president@hz1.example.org"
)
OFFICE = Person(
    staff_id="hz-001-complaint_office-1", name="田桂英", email="complaint_office.1@hz1.example.org"
)
HANDLER = Person(staff_id="hz-001-finance-2", name="李磊", email="finance.2@hz1.example.org")
SUPERVISOR = Person(
    staff_id="bureau-sup-1", name="周督办", email="supervisor@bureau.hz.example.org"
)
URL = "https://huiyin.example.org/v1/track/"


def region() -> dict[str, Any]:
    return yaml.safe_load(REGION_FILE.read_text(encoding="utf-8"))


def scopes(raw: dict[str, Any] | None = None) -> dict[str, Scope]:
    return {s.id: s for s in RegionContacts.model_validate(raw or region()).scopes()}


SCOPES = scopes()
HZ1, BUREAU = SCOPES["hospital:hz-001"], SCOPES["bureau"]


def test_the_example_region_gives_every_hospital_and_the_bureau_a_scope() -> None:
    assert set(SCOPES) == {"hospital:hz-001", "hospital:hz-002", "hospital:hz-003", "bureau"}
    assert set(HZ1.groups) == {"office-wecom", "leaders-dingtalk", "hospital-system"}
    leader = HZ1.people[LEADER.staff_id]
    assert leader.phone == "13800000001" and leader.roles == ("leadership",)
    assert HZ1.roles_of("hz-001-finance-1") == (
        "finance",
        frozenset({"department_head", "handler"}),
    )
    assert BUREAU.people["bureau-sup-1"].phone == "13800000009"


def test_a_region_without_a_notification_section_reaches_everyone_by_e_mail() -> None:
    raw = region()
    del raw["notification"]
    plain = scopes(raw)["hospital:hz-001"]
    [message] = notices_for(sample.escalated(recipients=[LEADER]), tracking_url=URL)
    assert [a.channel for a in addresses_for(message, scope=plain)] == [DeliveryChannel.EMAIL]


def test_secrets_stay_out_of_reprs_and_plain_dumps_but_are_stored() -> None:
    shown = repr(HZ1) + HZ1.model_dump_json() + repr(addresses_for_leader())
    for secret in ("SECdemo-placeholder", "demo-wecom-key", "whsec_", "demo-dingtalk-token"):
        assert secret not in shown
    document = HZ1.document()
    assert document["_id"] == "hospital:hz-001"
    [dingtalk] = [g for g in document["groups"] if g["name"] == "leaders-dingtalk"]
    assert dingtalk["secret"].startswith("SECdemo")
    assert Scope.from_document(document) == HZ1


def test_no_stored_field_name_holds_a_dot_whatever_the_codes_hold() -> None:
    # Staff ids, group names and event types may hold dots; field names may not.
    def names(value: Any) -> list[str]:
        if isinstance(value, dict):
            return [k for k in value] + [n for v in value.values() for n in names(v)]
        if isinstance(value, list):
            return [n for v in value for n in names(v)]
        return []

    dotted = Scope(
        id="hospital:x",
        people={"dr.li": HZ1.people[LEADER.staff_id]},
        groups={"office.robot": HZ1.groups["office-wecom"]},
        templates=HZ1.templates,
    )
    document = dotted.document()
    assert not [n for n in names(document) if "." in n or n.startswith("$")]
    assert Scope.from_document(document) == dotted


def addresses_for_leader() -> list[Any]:
    [message] = notices_for(sample.escalated(recipients=[LEADER]), tracking_url=URL)
    return addresses_for(message, scope=HZ1)


def test_leadership_of_hz_001_gets_e_mail_sms_and_its_dingtalk_group() -> None:
    addresses = addresses_for_leader()
    assert [(a.channel, a.key, a.shown) for a in addresses] == [
        (DeliveryChannel.EMAIL, LEADER.staff_id, "v***@hz1.example.org"),
        (DeliveryChannel.SMS, LEADER.staff_id, "138****0001"),
        (DeliveryChannel.DINGTALK, "group:leaders-dingtalk", "leaders-dingtalk"),
    ]
    assert addresses[2].secret.startswith("SECdemo") and "access_token=" in addresses[2].to


def test_a_person_who_prefers_other_channels_gets_those() -> None:
    step = sample.escalated(level="complaint_office", recipients=[OFFICE])
    [message] = notices_for(step, tracking_url=URL)
    channels = [(a.channel, a.key) for a in addresses_for(message, scope=HZ1)]
    assert channels == [
        (DeliveryChannel.EMAIL, OFFICE.staff_id),
        (DeliveryChannel.SMS, OFFICE.staff_id),  # her own choice; the audience's is e-mail
        (DeliveryChannel.WECOM, "group:office-wecom"),
        (DeliveryChannel.WEBHOOK, "group:hospital-system"),
    ]


def test_someone_without_an_address_for_a_channel_is_not_sent_through_it() -> None:
    no_email = Person(staff_id=LEADER.staff_id, name="郑国华")
    [message] = notices_for(sample.escalated(recipients=[no_email]), tracking_url=URL)
    # The book's copy of the address serves when the event carries none.
    email, sms, _group = addresses_for(message, scope=HZ1)
    assert email.to == "vice-president@hz1.example.org" and sms.to == "13800000001"
    stranger = Person(staff_id="hz-001-nobody", name="无名")
    [unknown] = notices_for(sample.escalated(recipients=[stranger]), tracking_url=URL)
    assert [a.channel for a in addresses_for(unknown, scope=HZ1)] == [DeliveryChannel.DINGTALK]


def test_a_group_hears_of_one_event_once_whoever_else_is_told() -> None:
    second = Person(staff_id="hz-001-leadership-2", name="孙院长", email="president@h.example.org")
    messages = notices_for(sample.escalated(recipients=[LEADER, second]), tracking_url=URL)
    found = routes(messages, hospital=HZ1, bureau=BUREAU)
    email, sms, dingtalk = DeliveryChannel.EMAIL, DeliveryChannel.SMS, DeliveryChannel.DINGTALK
    assert [(m.staff_id, a.channel) for m, a in found] == [
        (LEADER.staff_id, email),
        (LEADER.staff_id, sms),
        (LEADER.staff_id, dingtalk),
        (second.staff_id, email),  # not in the book: no phone; the group already heard
    ]


def test_the_bureaus_supervisors_are_reached_as_the_bureau_says() -> None:
    messages = notices_for(
        sample.escalated(level="bureau", recipients=[SUPERVISOR]), tracking_url=URL
    )
    found = routes(messages, hospital=HZ1, bureau=BUREAU)
    assert [(a.channel, a.shown) for _, a in found] == [
        (DeliveryChannel.EMAIL, "s***@bureau.hz.example.org"),
        (DeliveryChannel.SMS, "138****0009"),
    ]


def test_the_complainant_is_reached_by_e_mail_only_whatever_the_book_says() -> None:
    [message] = notices_for(
        sample.replied(complainant_email="lina@p.example.org"), tracking_url=URL
    )
    assert [(a.channel, a.key) for a in addresses_for(message, scope=HZ1)] == [
        (DeliveryChannel.EMAIL, "complainant")
    ]
    unreachable = Message(role=RecipientRole.COMPLAINANT, to=None, subject="", body="")
    assert addresses_for(unreachable, scope=HZ1) == []


def test_no_scope_means_e_mail_only() -> None:
    messages = notices_for(sample.escalated(recipients=[LEADER]), tracking_url=URL)
    assert [a.channel for _, a in routes(messages, hospital=None, bureau=None)] == [
        DeliveryChannel.EMAIL
    ]


def test_the_hospitals_templates_come_with_its_scope() -> None:
    [message] = notices_for(
        sample.escalated(recipients=[LEADER]),
        tracking_url=URL,
        templates=HZ1.template_book(),
    )
    assert message.subject.startswith("【回音】院领导督办")
    assert message.sms is not None and message.sms.code == "SMS_DEMO_LEADERS"
    [other] = notices_for(
        sample.escalated(recipients=[LEADER]),
        tracking_url=URL,
        templates=SCOPES["hospital:hz-002"].template_book(),
    )
    assert other.subject.startswith("【回音】督办提醒")


# --- what the loader refuses ----------------------------------------------------------------


def _with(change: dict[str, Any]) -> dict[str, Any]:
    raw = region()
    section = copy.deepcopy(raw["notification"])
    hospital = section["hospitals"]["hz-001"]
    for path, value in change.items():
        *parents, last = path.split(".")
        target = {"section": section, "hz1": hospital}[parents[0]]
        for key in parents[1:]:
            target = target.setdefault(key, {})
        target[last] = value
    raw["notification"] = section
    return raw


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"section.hospitals.hz-999": {}}, "no such hospital"),
        ({"hz1.staff.hz-002-finance-1": {"phone": "13800000003"}}, "is not staff of hz-001"),
        ({"hz1.staff.hz-001-finance-1": {"phone": "12345"}}, "phone"),
        ({"hz1.staff.hz-001-finance-1": {"channels": ["sms"]}}, "prefers SMS but has no phone"),
        ({"hz1.staff.hz-001-finance-1": {"channels": ["fax"]}}, "channels"),
        (
            {"hz1.groups.leaders-dingtalk": {"channel": "dingtalk", "url": "http://h/robot"}},
            "signing secret",
        ),
        ({"hz1.groups.office-wecom": {"channel": "wecom", "url": "http://h/send"}}, "its key"),
        (
            {
                "hz1.groups.hospital-system": {
                    "channel": "webhook",
                    "url": "http://h/",
                    "secret": "s",
                }
            },
            "whsec_",
        ),
        (
            {
                "hz1.groups.hospital-system": {
                    "channel": "webhook",
                    "url": "ftp://h/",
                    "secret": WHSEC,
                }
            },
            "url",
        ),
        (
            {"hz1.audiences.leadership": {"groups": ["no-such-group"]}},
            "no group named no-such-group",
        ),
        ({"hz1.audiences.complainant": {"groups": ["office-wecom"]}}, "e-mail only"),
        ({"hz1.audiences.complainant": {"channels": ["sms"]}}, "e-mail only"),
        ({"hz1.audiences.janitor": {"channels": ["email"]}}, "janitor"),
        (
            {"section.bureau.staff.hz-001-leadership-1": {"phone": "13800000003"}},
            "not a supervisor",
        ),
        (
            {
                "hz1.templates": {
                    "complaint.escalated": {"supervisor": {"subject": "{case_number}"}}
                }
            },
            "the bureau's notices",
        ),
        (
            {"hz1.templates": {"complaint.overdue": {"handler": {"body": "{complainant_phone}"}}}},
            "unknown placeholder",
        ),
        (
            {"section.templates": {"complaint.nothing": {"handler": {"subject": "x"}}}},
            "no such template",
        ),
        ({"hz1.colour": "red"}, "colour"),
    ],
)
def test_a_faulty_contact_book_is_refused_naming_the_fault(
    change: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ValidationError, match=complaint):
        RegionContacts.model_validate(_with(change))


def test_a_webhook_secret_of_the_standard_form_is_accepted() -> None:
    raw = _with(
        {
            "hz1.groups.hospital-system": {
                "channel": "webhook",
                "url": "https://his/h",
                "secret": WHSEC,
            }
        }
    )
    assert RegionContacts.model_validate(raw).scopes()[0].groups["hospital-system"].secret
