"""Reference data of the region: the bureau, hospitals, departments, staff, and the
routing rules (`rules:`, see case_rules.RoutingRules) of the bureau (the default for every
hospital) and of each hospital (over the bureau's).

Validated as a whole before anything is stored, so a typo in the region file (a staff
member in a department that does not exist, a rule naming an unknown category,
department or staff member) is reported instead of half-loaded.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from services.routing.domain.case_rules import RoutingRules
from services.routing.domain.escalation_ladder import EscalationLadder

Code = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class Role(StrEnum):
    HANDLER = "handler"
    DEPARTMENT_HEAD = "department_head"
    COMPLAINT_OFFICE = "complaint_office"
    LEADERSHIP = "leadership"


class StaffMember(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Code
    name: str = Field(min_length=1, max_length=50)
    department: str = Code
    roles: tuple[Role, ...] = (Role.HANDLER,)
    email: EmailStr | None = None
    absent: bool = False


class Department(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str = Code
    name: str = Field(min_length=1, max_length=50)


class Hospital(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Code
    name: str = Field(min_length=1, max_length=100)
    complaint_office_email: EmailStr | None = None
    departments: list[Department]
    staff: list[StaffMember] = []
    rules: RoutingRules | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Hospital:
        codes = [d.code for d in self.departments]
        if len(set(codes)) != len(codes):
            raise ValueError(f"hospital {self.id}: duplicate department codes")
        ids = [s.id for s in self.staff]
        if len(set(ids)) != len(ids):
            raise ValueError(f"hospital {self.id}: duplicate staff ids")
        for member in self.staff:
            if member.department not in codes:
                raise ValueError(
                    f"hospital {self.id}: staff {member.id} is in unknown department "
                    f"{member.department}"
                )
        for code in self.rules.departments.values() if self.rules else ():
            if code not in codes:
                raise ValueError(f"hospital {self.id}: rules name unknown department {code}")
        for conflict in self.rules.conflicts if self.rules else ():
            for who in filter(None, (conflict.staff_id, conflict.about_staff)):
                if who not in ids:
                    raise ValueError(
                        f"hospital {self.id}: rules.conflicts name unknown staff {who}"
                    )
            if conflict.about_department and conflict.about_department not in codes:
                raise ValueError(
                    f"hospital {self.id}: rules.conflicts name unknown department "
                    f"{conflict.about_department}"
                )
        return self


class Supervisor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    staff_id: str = Code
    name: str
    email: EmailStr


class Bureau(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Code
    name: str
    supervisors: list[Supervisor] = []
    rules: RoutingRules | None = Field(default=None, description="the region's default rules")

    @model_validator(mode="after")
    def _no_personal_records(self) -> Bureau:
        if self.rules and self.rules.conflicts:
            raise ValueError("bureau.rules.conflicts: 回避 records belong to a hospital's rules")
        return self


class RegionInfo(BaseModel):
    id: str = Code
    name: str


class Region(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region: RegionInfo
    bureau: Bureau
    hospitals: list[Hospital]

    @model_validator(mode="after")
    def _unique_hospitals(self) -> Region:
        ids = [h.id for h in self.hospitals]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate hospital ids")
        return self

    @model_validator(mode="after")
    def _ladders_only_tighten(self) -> Region:
        """Each hospital's escalation ladder over the bureau's may reach a level sooner,
        never later (docs/rules.md#escalation E11): refused here, naming the rule."""
        bureau = self.bureau.rules.ladder if self.bureau.rules else None
        for hospital in self.hospitals:
            EscalationLadder.combine(
                bureau, hospital.rules.ladder if hospital.rules else None, hospital_id=hospital.id
            )
        return self
