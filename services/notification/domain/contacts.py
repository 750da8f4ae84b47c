"""The contact book: notification's own copy of how to reach people and groups, loaded
with the region file (`huiyin-admin load-region`, section `notification:`). Pure: no I/O.

Per audience (handler, department head, complaint office, leadership, the bureau's
supervisors, the complainant) the channels it gets: personal ones (e-mail, SMS) and the
groups that hear of it (a WeCom or DingTalk group robot, a hospital system's webhook). The
region sets the default, a hospital or the bureau its own per audience, and a person may
prefer other personal channels. Per person: the phone number for SMS; e-mail addresses,
departments and roles come from the region's staff lists.

Checked as a whole when loaded: every staff member, group and template named must exist, a
DingTalk robot needs its signing secret, a webhook a Standard Webhooks secret, and the
complainant is reached by e-mail only (never through a staff group). Secrets stay out of
`repr`, logs and JSON unless a store asks for them (`context={"reveal": True}`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    SerializationInfo,
    StringConstraints,
    field_serializer,
    model_validator,
)

from services.notification.domain.messages import (
    Message,
    RecipientRole,
    mask_address,
    mask_phone,
)
from services.notification.domain.templates import (
    TemplateBook,
    TemplateOverride,
    TemplateOverrides,
    check_overrides,
)
from shared.contracts import DeliveryChannel

EMAIL: Final = DeliveryChannel.EMAIL
SMS: Final = DeliveryChannel.SMS
PersonalChannel = Literal[DeliveryChannel.EMAIL, DeliveryChannel.SMS]
GroupChannel = Literal[DeliveryChannel.WECOM, DeliveryChannel.DINGTALK, DeliveryChannel.WEBHOOK]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=500)]
# Mainland mobile numbers, optionally with the country code.
Phone = Annotated[str, StringConstraints(pattern=r"^(\+?86)?1[3-9]\d{9}$")]
BUREAU = "bureau"


_CREDENTIAL_IN_URL = re.compile(r"((?:key|access_token|token)=)[^&#]+", re.IGNORECASE)


def _revealed(info: SerializationInfo) -> bool:
    return isinstance(info.context, dict) and info.context.get("reveal") is True


def _hidden(secret: SecretStr | None, info: SerializationInfo) -> str | None:
    if secret is None:
        return None
    return secret.get_secret_value() if _revealed(info) else str(secret)


class Group(BaseModel):
    """A group that hears of a notice: a robot in a WeCom or DingTalk group chat, or a
    hospital system's endpoint. `url` of a WeCom robot holds its key; of a DingTalk robot
    its access token (the secret signs each request); of a webhook, the endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    channel: GroupChannel
    url: Url = Field(repr=False)  # a robot's url holds its key or token
    secret: SecretStr | None = None

    @field_serializer("secret")
    def _secret(self, secret: SecretStr | None, info: SerializationInfo) -> str | None:
        return _hidden(secret, info)

    @field_serializer("url")
    def _url(self, url: str, info: SerializationInfo) -> str:
        return url if _revealed(info) else _CREDENTIAL_IN_URL.sub(r"\1***", url)

    @model_validator(mode="after")
    def _signed_where_required(self) -> Self:
        secret = self.secret.get_secret_value() if self.secret else ""
        if self.channel == DeliveryChannel.WECOM and "key=" not in self.url:
            raise ValueError("a WeCom robot's url carries its key (…/webhook/send?key=…)")
        if self.channel == DeliveryChannel.DINGTALK and not secret:
            raise ValueError("a DingTalk robot needs its signing secret (加签, SEC…)")
        if self.channel == DeliveryChannel.WEBHOOK:
            webhook_key(secret)  # raises when it is not a Standard Webhooks secret
        return self


def webhook_key(secret: str) -> bytes:
    """The key a Standard Webhooks secret (`whsec_` + base64 of 24 to 64 bytes) stands for."""
    if not secret.startswith("whsec_"):
        raise ValueError("a webhook secret is 'whsec_' followed by base64 (Standard Webhooks)")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret's part after 'whsec_' must be base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError("a webhook secret must hold 24 to 64 bytes")
    return key


class Audience(BaseModel):
    """How one audience is reached: the personal channels each person gets (unless they
    prefer others) and the groups that hear of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    channels: tuple[PersonalChannel, ...] = (EMAIL,)
    groups: tuple[Code, ...] = ()


class StaffContact(BaseModel):
    """What the region file adds for one person: a phone for SMS, and the personal channels
    they prefer (replacing their audience's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    phone: Phone | None = None
    channels: tuple[PersonalChannel, ...] | None = None


class Contacts(BaseModel):
    """One hospital's (or the bureau's) part of the section: its audiences over the
    region's, its groups, its people's contacts and its own templates."""

    model_config = ConfigDict(extra="forbid")
    audiences: dict[RecipientRole, Audience] = {}
    groups: dict[Code, Group] = {}
    staff: dict[Code, StaffContact] = {}
    templates: TemplateOverrides = {}

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        check_overrides(self.templates)
        for role, audience in self.audiences.items():
            for name in audience.groups:
                if name not in self.groups:
                    raise ValueError(f"audiences.{role.value}.groups: no group named {name}")
            if role is RecipientRole.COMPLAINANT and (
                audience.groups or set(audience.channels) - {EMAIL}
            ):
                raise ValueError("audiences.complainant: the complainant is reached by e-mail only")
        return self


class NotificationSection(BaseModel):
    """The region file's `notification:` section."""

    model_config = ConfigDict(extra="forbid")
    audiences: dict[RecipientRole, Audience] = Field(
        default={}, description="the region's default per audience; every one gets e-mail"
    )
    templates: TemplateOverrides = {}
    bureau: Contacts = Contacts()
    hospitals: dict[Code, Contacts] = {}

    @model_validator(mode="after")
    def _complainant_by_email(self) -> Self:
        Contacts(audiences=self.audiences, templates=self.templates)  # the same checks
        if self.audiences.get(RecipientRole.COMPLAINANT, Audience()).groups:
            raise ValueError("audiences.complainant: the complainant is reached by e-mail only")
        return self


# --- what the region file says of staff (notification's view: only what it needs) -------


class _StaffEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    name: str
    department: str
    roles: tuple[str, ...] = ("handler",)
    email: EmailStr | None = None


class _HospitalEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    staff: list[_StaffEntry] = []


class _Supervisor(BaseModel):
    model_config = ConfigDict(extra="ignore")
    staff_id: str
    name: str
    email: EmailStr | None = None


class _Bureau(BaseModel):
    model_config = ConfigDict(extra="ignore")
    supervisors: list[_Supervisor] = []


class Contact(BaseModel):
    """One person in the book: how to reach them, and where they work (which text of a
    ladder step they read: staff_notices.audience_of)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    email: EmailStr | None = None
    phone: Phone | None = None
    channels: tuple[PersonalChannel, ...] | None = None
    department: str | None = None
    roles: tuple[str, ...] = ()


class Scope(BaseModel):
    """What the deliveries of one hospital (or the bureau's supervisors) read, in one
    document: the audiences with the region's defaults applied, the groups, the people and
    the templates (the region's, then the hospital's)."""

    model_config = ConfigDict(extra="forbid")
    id: str  # "hospital:<id>" or "bureau"
    audiences: dict[RecipientRole, Audience] = {}
    groups: dict[str, Group] = {}
    people: dict[str, Contact] = {}
    templates: TemplateOverrides = {}

    def audience(self, role: RecipientRole) -> Audience:
        return self.audiences.get(role, Audience())

    def template_book(self) -> TemplateBook:
        return TemplateBook(check_overrides(self.templates))

    def roles_of(self, staff_id: str) -> tuple[str | None, frozenset[str]]:
        person = self.people.get(staff_id)
        if person is None:
            return None, frozenset()
        return person.department, frozenset(person.roles)

    def document(self) -> dict[str, Any]:
        """As stored: by `_id`, secrets in clear (the store is notification's own), and
        what is keyed by a code kept as lists (a staff id, a group name or an event type
        may hold a dot, which no stored field name may)."""
        fields = self.model_dump(mode="json", context={"reveal": True})
        return {
            "_id": fields["id"],
            "audiences": fields["audiences"],
            "groups": [{"name": k, **group} for k, group in fields["groups"].items()],
            "people": [{"staff_id": k, **person} for k, person in fields["people"].items()],
            "templates": [
                {"event": event_type, "audience": audience, "override": override}
                for event_type, by_audience in fields["templates"].items()
                for audience, override in by_audience.items()
            ],
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Scope:
        templates: dict[str, dict[str, Any]] = {}
        for entry in document.get("templates", []):
            templates.setdefault(entry["event"], {})[entry["audience"]] = entry["override"]
        return cls.model_validate(
            {
                "id": document["_id"],
                "audiences": document.get("audiences", {}),
                "groups": {g["name"]: _without(g, "name") for g in document.get("groups", [])},
                "people": {
                    p["staff_id"]: _without(p, "staff_id") for p in document.get("people", [])
                },
                "templates": templates,
            }
        )


def _without(entry: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != key}


def hospital_scope_id(hospital_id: str) -> str:
    return f"hospital:{hospital_id}"


class RegionContacts(BaseModel):
    """The region file as notification reads it: the staff lists and the `notification:`
    section, checked against each other."""

    model_config = ConfigDict(extra="ignore")
    bureau: _Bureau
    hospitals: list[_HospitalEntry]
    notification: NotificationSection = NotificationSection()

    @model_validator(mode="after")
    def _everyone_named_exists(self) -> Self:
        section = self.notification
        staff = {h.id: {s.id for s in h.staff} for h in self.hospitals}
        for hospital_id, contacts in section.hospitals.items():
            where = f"notification.hospitals.{hospital_id}"
            if hospital_id not in staff:
                raise ValueError(f"{where}: no such hospital in hospitals")
            for staff_id in contacts.staff:
                if staff_id not in staff[hospital_id]:
                    raise ValueError(f"{where}.staff: {staff_id} is not staff of {hospital_id}")
            for event_type, by_audience in contacts.templates.items():
                if RecipientRole.SUPERVISOR in by_audience:
                    raise ValueError(
                        f"{where}.templates.{event_type}.supervisor: the bureau's notices are "
                        "the region's to word (notification.templates)"
                    )
        supervisors = {s.staff_id for s in self.bureau.supervisors}
        for staff_id in section.bureau.staff:
            if staff_id not in supervisors:
                raise ValueError(f"notification.bureau.staff: {staff_id} is not a supervisor")
        for staff_id, contact in _every_contact(section):
            if contact.channels and SMS in contact.channels and contact.phone is None:
                raise ValueError(f"notification: {staff_id} prefers SMS but has no phone")
        return self

    def scopes(self) -> list[Scope]:
        """One scope per hospital and one for the bureau, as stored."""
        section = self.notification
        scopes = [
            Scope(
                id=hospital_scope_id(hospital.id),
                audiences=section.audiences | contacts.audiences,
                groups=contacts.groups,
                people={
                    s.id: Contact(
                        name=s.name,
                        email=s.email,
                        department=s.department,
                        roles=s.roles,
                        **_contact_fields(contacts.staff.get(s.id)),
                    )
                    for s in hospital.staff
                },
                templates=_merged(section.templates, contacts.templates),
            )
            for hospital in self.hospitals
            for contacts in [section.hospitals.get(hospital.id, Contacts())]
        ]
        bureau = section.bureau
        scopes.append(
            Scope(
                id=BUREAU,
                audiences=section.audiences | bureau.audiences,
                groups=bureau.groups,
                people={
                    s.staff_id: Contact(
                        name=s.name,
                        email=s.email,
                        roles=("supervisor",),
                        **_contact_fields(bureau.staff.get(s.staff_id)),
                    )
                    for s in self.bureau.supervisors
                },
                templates=_merged(section.templates, bureau.templates),
            )
        )
        return scopes


def _every_contact(section: NotificationSection) -> Iterable[tuple[str, StaffContact]]:
    yield from section.bureau.staff.items()
    for contacts in section.hospitals.values():
        yield from contacts.staff.items()


def _contact_fields(contact: StaffContact | None) -> dict[str, Any]:
    return contact.model_dump(exclude_none=True) if contact else {}


def _merged(region: TemplateOverrides, own: TemplateOverrides) -> TemplateOverrides:
    """The region's overrides, each replaced by the scope's own for the same template."""
    merged: dict[str, dict[RecipientRole, TemplateOverride]] = {
        event_type: dict(by_audience) for event_type, by_audience in region.items()
    }
    for event_type, by_audience in own.items():
        merged.setdefault(event_type, {}).update(by_audience)
    return merged


# --- resolving: which addresses one notice goes to -------------------------------------


@dataclass(frozen=True)
class Address:
    """Where one channel delivers a notice. `key` is whom it reaches (a staff id, the
    complainant, or `group:<name>`): one level of one case reaches each key once per
    channel. `shown` is all a log or the delivery log may show."""

    channel: DeliveryChannel
    to: str = field(repr=False)  # an e-mail address, a phone number or a URL (a robot's key)
    key: str
    shown: str
    secret: str = field(default="", repr=False)


def addresses_for(message: Message, *, scope: Scope, other: Scope | None = None) -> list[Address]:
    """Every address `message` goes to: its audience's personal channels (or the person's
    preferred ones) and its audience's groups. `other`: where else the person may be
    listed (a bureau supervisor told as leadership when a hospital lists no leaders)."""
    audience = scope.audience(message.role)
    if message.role is RecipientRole.COMPLAINANT:
        if message.to is None:
            return []
        return [Address(EMAIL, message.to, key="complainant", shown=mask_address(message.to))]
    staff_id = message.staff_id or ""
    person = scope.people.get(staff_id) or (other.people.get(staff_id) if other else None)
    channels = person.channels if person and person.channels is not None else audience.channels
    addresses: list[Address] = []
    for channel in channels:
        if channel == EMAIL:
            email = message.to or (str(person.email) if person and person.email else None)
            if email:
                addresses.append(Address(EMAIL, email, key=staff_id, shown=mask_address(email)))
        elif person is not None and person.phone:
            addresses.append(
                Address(SMS, person.phone, key=staff_id, shown=mask_phone(person.phone))
            )
    for name in audience.groups:
        group = scope.groups[name]
        secret = group.secret.get_secret_value() if group.secret else ""
        addresses.append(
            Address(group.channel, group.url, key=f"group:{name}", shown=name, secret=secret)
        )
    return addresses


def routes(
    messages: Iterable[Message], *, hospital: Scope | None, bureau: Scope | None
) -> list[tuple[Message, Address]]:
    """Every (message, address) of one event: the bureau's scope for its supervisors, the
    hospital's for everyone else (either missing: e-mail only). A group hears of one event
    once, in the words of the first message addressed to it (its short form greets no
    one)."""
    empty = Scope(id="none")
    seen: set[tuple[DeliveryChannel, str]] = set()
    found: list[tuple[Message, Address]] = []
    for message in messages:
        supervised = message.role is RecipientRole.SUPERVISOR
        scope = (bureau if supervised else hospital) or empty
        other = hospital if supervised else bureau
        for address in addresses_for(message, scope=scope, other=other):
            if address.key.startswith("group:"):
                if (address.channel, address.key) in seen:
                    continue
                seen.add((address.channel, address.key))
            found.append((message, address))
    return found
