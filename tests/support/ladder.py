"""What an end-to-end test of the escalation ladder needs around the platform: the four HTTP
stand-ins (SMS gateway, WeCom and DingTalk robots, a hospital system's webhook), the region
file with hz-001's groups pointed at them, and who the region file says each level reaches
on which channel, worked out from the file itself (not from notification's code)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.http_standins import (
    DingTalkRobotStandIn,
    HospitalWebhookStandIn,
    SmsGatewayStandIn,
    WeComRobotStandIn,
)
from tests.support.platform import REGION_FILE

SMS_KEY, SMS_SECRET = "LTAI-test-key", "test-secret-not-real"
HOSPITAL = "hz-001"
# The stand-in behind each of hz-001's groups in the example region.
GROUPS = {"wecom": "office-wecom", "dingtalk": "leaders-dingtalk", "webhook": "hospital-system"}


@dataclass
class StandIns:
    sms: SmsGatewayStandIn
    wecom: WeComRobotStandIn
    dingtalk: DingTalkRobotStandIn
    webhook: HospitalWebhookStandIn

    @property
    def sms_settings(self) -> dict[str, str]:
        """Notification's settings (service and worker) for this SMS gateway."""
        return {
            "sms_endpoint": self.sms.url,
            "sms_access_key_id": SMS_KEY,
            "sms_access_key_secret": SMS_SECRET,
        }

    def region_file(self, path: Path) -> Path:
        """The example region, hz-001's robots and webhook pointed at the stand-ins."""
        raw = yaml.safe_load(REGION_FILE.read_text(encoding="utf-8"))
        groups = raw["notification"]["hospitals"][HOSPITAL]["groups"]
        groups["office-wecom"]["url"] = self.wecom.url
        groups["leaders-dingtalk"] |= {"url": self.dingtalk.url, "secret": self.dingtalk.secret}
        groups["hospital-system"] |= {"url": self.webhook.url, "secret": self.webhook.secret}
        path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
        return path


@contextlib.contextmanager
def stand_ins() -> Iterator[StandIns]:
    with (
        SmsGatewayStandIn(access_key_id=SMS_KEY, secret=SMS_SECRET) as sms,
        WeComRobotStandIn() as wecom,
        DingTalkRobotStandIn() as dingtalk,
        HospitalWebhookStandIn() as webhook,
    ):
        yield StandIns(sms, wecom, dingtalk, webhook)


@dataclass(frozen=True, order=True)
class Reached:
    """One level reaching one person (or group) on one channel: `to` is the address, the
    phone or the group's name, `key` whom notification's delivery names."""

    level: str
    channel: str
    to: str
    key: str = ""


# Notification's audience for each level (a department head told of the reply deadline
# reads the head's text), as the region file's `notification:` section names them.
AUDIENCE = {
    "warning": "handler",
    "reply_due": "handler",
    "complaint_office": "complaint_office",
    "leadership": "leadership",
    "bureau": "supervisor",
}


class RegionBook:
    """The region file read as a person would: who a level reaches (routing's audiences:
    docs/rules.md#escalation) and through what (the `notification:` section)."""

    def __init__(self, path: Path, hospital: str = HOSPITAL) -> None:
        raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.hospital = hospital
        self.staff = {
            s["id"]: s for h in raw["hospitals"] if h["id"] == hospital for s in h["staff"]
        }
        self.supervisors = {s["staff_id"]: s for s in raw["bureau"]["supervisors"]}
        section = raw.get("notification") or {}
        self.region_audiences: dict[str, Any] = section.get("audiences") or {}
        self.scopes: dict[str, dict[str, Any]] = {
            "hospital": (section.get("hospitals") or {}).get(hospital) or {},
            "bureau": section.get("bureau") or {},
        }

    def with_role(self, role: str, department: str | None = None) -> list[str]:
        return [
            staff_id
            for staff_id, member in self.staff.items()
            if role in member.get("roles", ())
            and (department is None or member["department"] == department)
        ]

    def people(self, level: str, *, handler: str, department: str) -> dict[str, str]:
        """Staff id → audience of everyone `level` reaches."""
        audience = AUDIENCE[level]
        if level == "bureau":
            return dict.fromkeys(self.supervisors, audience)
        if level == "warning":
            return {handler: audience}
        if level == "reply_due":
            heads = self.with_role("department_head", department)
            return {handler: audience} | dict.fromkeys(heads, "department_head")
        return dict.fromkeys(self.with_role(level), audience)

    def reached(self, level: str, *, handler: str, department: str) -> list[Reached]:
        """Every (person or group, channel) `level` reaches, once each."""
        found: set[Reached] = set()
        for staff_id, audience in self.people(
            level, handler=handler, department=department
        ).items():
            supervisor = audience == "supervisor"
            scope = self.scopes["bureau" if supervisor else "hospital"]
            member = (self.supervisors if supervisor else self.staff)[staff_id]
            contact = (scope.get("staff") or {}).get(staff_id) or {}
            reach = (
                (scope.get("audiences") or {}).get(audience)
                or self.region_audiences.get(audience)
                or {}
            )
            channels = contact.get("channels") or reach.get("channels") or ["email"]
            if "email" in channels and member.get("email"):
                found.add(Reached(level, "email", member["email"], staff_id))
            if "sms" in channels and contact.get("phone"):
                found.add(Reached(level, "sms", contact["phone"], staff_id))
            for name in reach.get("groups") or ():
                channel = scope["groups"][name]["channel"]
                owner = "bureau" if supervisor else f"hospital:{self.hospital}"
                found.add(Reached(level, channel, name, f"group:{owner}/{name}"))
        return sorted(found)
