"""Every text a notice is written from, one template per event and audience, and how a
hospital may override one. Pure: no I/O.

A template has up to four forms, each for the channels that carry it:
- `subject` and `body`: the e-mail (the subject gets the 【回音】 prefix; the body follows the
  greeting "<name>：" and a blank line);
- `short`: markdown for group robots (WeCom, DingTalk) and the text a hospital's system
  receives; a group reads it, so it never greets anyone;
- `sms`: the code of a template registered with the SMS provider and the value of each of
  its variables (the provider writes the text; we only fill it in).

Placeholders are `{name}`; what each template may use is fixed per template (`CATALOG`),
computed by staff_notices.py and complainant_notices.py from the event. Staff templates are
given no fact about the complainant (docs/rules.md#confidentiality Q3, Q6), so no override
can leak one. A line whose placeholders are all empty is left out: optional facts (a
referral, co-handling departments, the link to the case) need no template of their own;
`{urgent}` (【紧急】 or nothing) only marks a line and never makes it optional.

Overrides come from the region file (the contact book, domain/contacts.py) and are checked
when it is loaded: an unknown event, audience, placeholder or form is refused there, not
found at delivery time.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.notification.domain.messages import Message, RecipientRole, SmsText, greeted

TemplateKey = tuple[str, RecipientRole]  # (event type, audience)

PREFIX = "【回音】"
# Aliyun's limit on one variable of a notification SMS; a longer value is cut.
SMS_PARAM_CHARS = 35
SHORT_BYTES = 4000  # WeCom's markdown limit is 4096 bytes; DingTalk's is larger


@dataclass(frozen=True)
class SmsTemplate:
    code: str
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Template:
    subject: str
    body: str
    short: str = ""  # "" for the complainant: never posted to a group
    sms: SmsTemplate | None = None  # None: not sent by SMS (the complainant)


@dataclass(frozen=True)
class Rendered:
    subject: str  # with the prefix
    body_lines: tuple[str, ...]
    short: str
    sms: SmsText | None


def placeholders_in(text: str) -> set[str]:
    """The `{name}`s of `text`; ValueError for anything else a format string allows
    (`{a.b}`, `{a[0]}`, `{a!r}`, `{a:>5}`, an unmatched brace)."""
    names: set[str] = set()
    for _literal, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if spec or conversion or not _is_name(name):
            raise ValueError(f"{{{name}}} is not a plain placeholder like {{case_number}}")
        names.add(name)
    return names


def _is_name(name: str) -> bool:
    return name.isascii() and name.isidentifier() and name == name.lower()


def fill(text: str, facts: Mapping[str, str]) -> str:
    return string.Formatter().vformat(text, (), dict(facts))


# Marks a line rather than standing for it: never makes a line optional.
MARKERS = frozenset({"urgent"})


def fill_lines(text: str, facts: Mapping[str, str]) -> list[str]:
    """`text` line by line, leaving out each line whose placeholders are all empty
    (markers such as {urgent} aside)."""
    lines: list[str] = []
    for line in text.split("\n"):
        names = placeholders_in(line) - MARKERS
        if names and not any(facts[name] for name in names):
            continue
        lines.append(fill(line, facts))
    return lines


# --- the catalog: every template, the facts it may use, its default text ------------------

STEP = ("case_number", "department", "due_at", "level", "reason", "overdue_days", "urgent", "link")


@dataclass(frozen=True)
class Entry:
    placeholders: frozenset[str]
    default: Template


def _staff_sms(matter: str) -> SmsTemplate:
    # One provider template serves every staff notice (one approval, not twenty):
    # "您有案件${case}：${matter}，请登录回音平台处理。"
    return SmsTemplate("SMS_HUIYIN_STAFF", {"case": "{case_number}", "matter": matter})


def _robot(title: str, *lines: str) -> str:
    return "\n".join((f"#### {PREFIX}{title}", *lines, "[查看案件]({link})"))


_STEP_ROBOT = ("案件：{case_number}", "科室：{department}", "期限：{due_at}", "原因：{reason}")


def _step(subject: str, opening: str, *, matter: str = "{level}") -> Template:
    return Template(
        subject=subject,
        body="\n".join(
            (
                opening,
                "案件编号：{case_number}",
                "承办科室：{department}",
                "期限：{due_at}",
                "已超期：{overdue_days}个工作日",
                "级别：{level}",
                "原因：{reason}",
                "",
                "投诉内容请登录回音平台查阅。",
                "查看案件：{link}",
            )
        ),
        short=_robot("{urgent}{level}", *_STEP_ROBOT),
        sms=_staff_sms(matter),
    )


def _escalation(opening: str) -> Template:
    return Template(
        subject="{urgent}督办提醒 {case_number}",
        body="\n".join(
            (
                opening,
                "原因：{reason}",
                "级别：{level}",
                "承办科室：{department}",
                "期限：{due_at}",
                "已超期：{overdue_days}个工作日",
                "",
                "请登录投诉管理平台查看办理情况。",
                "查看案件：{link}",
            )
        ),
        short=_robot("{urgent}{level}", *_STEP_ROBOT),
        sms=_staff_sms("{level}"),
    )


_TRACKING = "查询码：{tracking_code}\n查询进度：{tracking_link}"
_ASSIGNED_HANDLER = (
    "case_number",
    "category",
    "department",
    "received_at",
    "due_at",
    "priority",
    "urgent",
    "urgent_note",
    "co_departments",
    "revision_reason",
    "link",
)
_LIFECYCLE_HANDLER = ("case_number", "due_at", "reason", "link")

HANDLER, HEAD = RecipientRole.HANDLER, RecipientRole.DEPARTMENT_HEAD
OFFICE, LEADERS = RecipientRole.COMPLAINT_OFFICE, RecipientRole.LEADERSHIP
SUPERVISOR, COMPLAINANT = RecipientRole.SUPERVISOR, RecipientRole.COMPLAINANT


def _entry(placeholders: tuple[str, ...], default: Template) -> Entry:
    return Entry(frozenset(placeholders), default)


CATALOG: dict[TemplateKey, Entry] = {
    # --- the handler's work ---------------------------------------------------------------
    ("complaint.assigned", HANDLER): _entry(
        _ASSIGNED_HANDLER,
        Template(
            subject="{urgent}新投诉待处理 {case_number}",
            body="\n".join(
                (
                    "您有一件新的投诉需要处理。",
                    "案件编号：{case_number}",
                    "类别：{category}",
                    "承办科室：{department}",
                    "登记时间：{received_at}",
                    "答复期限：{due_at}",
                    "优先级：{priority}",
                    "{urgent_note}",
                    "配合科室：{co_departments}",
                    "改派/委托原因：{revision_reason}",
                    "",
                    "投诉内容请登录回音平台查阅。请在期限内调查核实并答复。"
                    "投诉人信息依规保密，请勿向被投诉人透露。",
                    "查看案件：{link}",
                )
            ),
            short=_robot(
                "{urgent}新投诉待处理",
                "案件：{case_number}",
                "科室：{department}",
                "期限：{due_at}",
            ),
            sms=_staff_sms("新投诉待处理"),
        ),
    ),
    ("complaint.extended", HANDLER): _entry(
        _LIFECYCLE_HANDLER,
        Template(
            subject="延期已批准 {case_number}",
            body="案件 {case_number} 的延期申请已获批准。\n新的答复期限：{due_at}\n理由：{reason}"
            "\n查看案件：{link}",
            short=_robot("延期已批准", "案件：{case_number}", "新的答复期限：{due_at}"),
            sms=_staff_sms("延期已批准"),
        ),
    ),
    ("complaint.deadline_set", HANDLER): _entry(
        ("case_number", "due_at", "link"),
        Template(
            subject="答复期限已确定 {case_number}",
            body="案件 {case_number} 的法定节假日安排已载入，答复期限已确定。\n答复期限：{due_at}"
            "\n查看案件：{link}",
            short=_robot("答复期限已确定", "案件：{case_number}", "答复期限：{due_at}"),
            sms=_staff_sms("答复期限已确定"),
        ),
    ),
    # --- the ladder (docs/rules.md#escalation) --------------------------------------------
    ("complaint.sla_warning", HANDLER): _entry(
        STEP,
        _step("{urgent}办理期限临近 {case_number}", "您承办的案件即将到期，请抓紧办理并按时答复。"),
    ),
    ("complaint.overdue", HANDLER): _entry(
        STEP,
        _step("{urgent}案件已超期 {case_number}", "您承办的案件已超过期限，请立即办理并答复。"),
    ),
    ("complaint.overdue", HEAD): _entry(
        STEP,
        _step(
            "{urgent}科室案件已超期 {case_number}",
            "贵科室承办的案件已超过期限，请督促承办人立即办理并答复。",
        ),
    ),
    ("complaint.overdue", OFFICE): _entry(
        STEP,
        _step("{urgent}案件受理已超期 {case_number}", "案件已超过受理期限，请尽快受理或作出处理。"),
    ),
    ("complaint.escalated", OFFICE): _entry(
        STEP, _escalation("案件 {case_number} 已超期未办结，请投诉管理部门督办。")
    ),
    ("complaint.escalated", LEADERS): _entry(
        STEP, _escalation("案件 {case_number} 需要您关注并督办。")
    ),
    ("complaint.escalated", SUPERVISOR): _entry(
        STEP, _escalation("案件 {case_number} 需要卫健委督办，请关注医院办理情况。")
    ),
    ("complaint.escalation_acknowledged", HANDLER): _entry(
        ("case_number", "level", "note", "link"),
        Template(
            subject="督办意见 {case_number}",
            body="案件 {case_number} 的督办已签收（{level}），督办意见如下：\n\n{note}\n\n"
            "请按督办意见办理，并在平台中记录办理情况。\n查看案件：{link}",
            short=_robot("督办意见", "案件：{case_number}", "级别：{level}", "意见：{note}"),
            sms=_staff_sms("督办意见已下达"),
        ),
    ),
    # --- the complainant (e-mail only: never a group, never an SMS) -----------------------
    ("complaint.assigned", COMPLAINANT): _entry(
        ("case_number", "received_at", "when_we_answer", "tracking_code", "tracking_link"),
        Template(
            subject="您的投诉已受理登记 {case_number}",
            body="您的投诉已于{received_at}登记，案件编号 {case_number}。\n{when_we_answer}\n"
            f"{_TRACKING}\n\n感谢您的监督。",
        ),
    ),
    ("complaint.replied", COMPLAINANT): _entry(
        ("case_number", "what", "reply", "tracking_code"),
        Template(
            subject="您的{what}已答复 {case_number}",
            body="关于您的{what}（案件编号 {case_number}），答复如下：\n\n{reply}\n\n"
            "如对处理结果有异议，可凭查询码 {tracking_code} 申请复核。",
        ),
    ),
    ("complaint.supplement_requested", COMPLAINANT): _entry(
        ("case_number", "missing", "tracking_code", "tracking_link"),
        Template(
            subject="请补充投诉材料 {case_number}",
            body="您的投诉（案件编号 {case_number}）需要补充以下材料或情况：\n\n{missing}\n\n"
            f"材料补齐后我们即予受理，处理期限自补齐之日起计算。\n{_TRACKING}",
        ),
    ),
    ("complaint.not_accepted", COMPLAINANT): _entry(
        ("case_number", "reason", "explanation", "refer_to"),
        Template(
            subject="投诉不予受理告知 {case_number}",
            body="经审查，您的投诉（案件编号 {case_number}）不予受理。\n依据：{reason}\n"
            "说明：{explanation}\n您可以向{refer_to}反映。\n\n如有疑问，请与医院投诉管理部门联系。",
        ),
    ),
    ("complaint.transferred", COMPLAINANT): _entry(
        ("case_number", "to_body", "note"),
        Template(
            subject="您的投诉已转交有关部门 {case_number}",
            body="您的投诉（案件编号 {case_number}）不属于本院职责范围，已转交{to_body}处理。\n"
            "说明：{note}\n\n感谢您的监督。",
        ),
    ),
    ("complaint.extended", COMPLAINANT): _entry(
        ("case_number", "reason", "due_at", "tracking_code", "tracking_link"),
        Template(
            subject="投诉处理期限延期告知 {case_number}",
            body="您的投诉（案件编号 {case_number}）经院领导批准延期办理。\n延期理由：{reason}\n"
            f"新的答复期限：{{due_at}}\n\n{_TRACKING}",
        ),
    ),
    ("complaint.deadline_set", COMPLAINANT): _entry(
        ("case_number", "due_at", "tracking_code", "tracking_link"),
        Template(
            subject="投诉答复期限告知 {case_number}",
            body="您的投诉（案件编号 {case_number}）答复期限已确定：\n"
            f"我们将在{{due_at}}前答复您。\n\n{_TRACKING}",
        ),
    ),
}


# --- overrides (region file) -----------------------------------------------------------

SmsParamName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$")]


class SmsOverride(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str = Field(pattern=r"^[A-Za-z0-9_]{1,64}$", description="the provider's template code")
    params: dict[SmsParamName, Annotated[str, StringConstraints(max_length=200)]] = Field(
        min_length=1, max_length=10
    )


class TemplateOverride(BaseModel):
    """A hospital's (or the region's) text for one event and audience; a form left out keeps
    the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    subject: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, min_length=1, max_length=4000)
    short: str | None = Field(default=None, min_length=1, max_length=2000)
    sms: SmsOverride | None = None


TemplateOverrides = dict[str, dict[RecipientRole, TemplateOverride]]


def check_overrides(overrides: TemplateOverrides) -> dict[TemplateKey, TemplateOverride]:
    """Every override names a template of the catalog and uses only its placeholders; the
    complainant's templates have neither a robot nor an SMS form. ValueError naming the
    first fault otherwise; the checked overrides by key."""
    checked: dict[TemplateKey, TemplateOverride] = {}
    for event_type, by_audience in overrides.items():
        for audience, override in by_audience.items():
            where = f"templates.{event_type}.{audience.value}"
            entry = CATALOG.get((event_type, audience))
            if entry is None:
                known = sorted({f"{e}.{a.value}" for e, a in CATALOG})
                raise ValueError(f"{where}: no such template; known: {', '.join(known)}")
            if entry.default.sms is None and (override.sms or override.short):
                raise ValueError(f"{where}: the complainant is written to by e-mail only")
            texts = {"subject": override.subject, "body": override.body, "short": override.short}
            texts |= {
                f"sms.params.{k}": v
                for k, v in (override.sms.params if override.sms else {}).items()
            }
            for part, text in texts.items():
                if text is None:
                    continue
                try:
                    unknown = placeholders_in(text) - entry.placeholders
                except ValueError as error:
                    raise ValueError(f"{where}.{part}: {error}") from None
                if unknown:
                    raise ValueError(
                        f"{where}.{part}: unknown placeholder(s) "
                        f"{', '.join('{' + u + '}' for u in sorted(unknown))}; this template "
                        f"knows {', '.join('{' + p + '}' for p in sorted(entry.placeholders))}"
                    )
            checked[(event_type, audience)] = override
    return checked


class TemplateBook:
    """The catalog with one hospital's overrides (checked: `check_overrides`)."""

    def __init__(self, overrides: Mapping[TemplateKey, TemplateOverride] | None = None) -> None:
        self._templates: dict[TemplateKey, Template] = {
            key: _applied(entry.default, (overrides or {}).get(key))
            for key, entry in CATALOG.items()
        }

    def template(self, key: TemplateKey) -> Template:
        return self._templates[key]

    def render(self, key: TemplateKey, facts: Mapping[str, str]) -> Rendered:
        """Every form of template `key` filled with `facts`, which must be exactly the
        template's placeholders (a programming error otherwise: the catalog and the code
        that computes the facts disagree)."""
        expected = CATALOG[key].placeholders
        if set(facts) != expected:
            raise KeyError(f"{key}: facts {sorted(facts)} are not {sorted(expected)}")
        template = self._templates[key]
        short = "\n".join(fill_lines(template.short, facts)) if template.short else ""
        sms = None
        if template.sms is not None:
            params = {
                name: fill(text, facts)[:SMS_PARAM_CHARS] or "—"
                for name, text in template.sms.params.items()
            }
            sms = SmsText(template.sms.code, params)
        return Rendered(
            subject=PREFIX + fill(template.subject, facts),
            body_lines=tuple(fill_lines(template.body, facts)),
            short=_cut(short, SHORT_BYTES),
            sms=sms,
        )


def _applied(default: Template, override: TemplateOverride | None) -> Template:
    if override is None:
        return default
    sms = default.sms
    if override.sms is not None:
        sms = SmsTemplate(override.sms.code, dict(override.sms.params))
    return replace(
        default,
        subject=override.subject or default.subject,
        body=override.body or default.body,
        short=override.short or default.short,
        sms=sms,
    )


def _cut(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode("utf-8", errors="ignore") + "…"


DEFAULT_TEMPLATES = TemplateBook()


@dataclass(frozen=True)
class NoticeContext:
    """What writing a notice needs besides the event: where people follow a case, the
    hospital's templates, and (for a ladder step) who holds which role."""

    tracking_url: str = ""  # the complainant's tracking page, the code appended
    case_link: str = ""  # the case in the platform, for staff; "" leaves the link out
    templates: TemplateBook = DEFAULT_TEMPLATES
    directory: StaffRoles | None = None


class StaffRoles(Protocol):
    def roles_of(self, staff_id: str) -> tuple[str | None, frozenset[str]]:
        """(department, roles) of a staff member; (None, frozenset()) for one unknown."""
        ...


def write(
    context: NoticeContext,
    key: TemplateKey,
    facts: Mapping[str, str],
    *,
    to: str | None,
    greeting: str,
    staff_id: str | None = None,
    recipient_key: str = "",
    level: str | None = None,
) -> Message:
    """Template `key` filled with `facts`, addressed to one person."""
    rendered = context.templates.render(key, facts)
    return Message(
        role=key[1],
        to=to,
        subject=rendered.subject,
        body=greeted(greeting, rendered.body_lines),
        recipient_key=recipient_key,
        staff_id=staff_id,
        short=rendered.short,
        sms=rendered.sms,
        facts=dict(facts),
        event_type=key[0],
        level=level,
    )
