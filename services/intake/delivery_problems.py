"""A notice that could not be delivered, recorded on the complaint (通知发送失败).

Notification gives up on a delivery only after its retries, or at once when the mail
system refuses it for good (a rejected address); the complaint office must then reach that
person another way, so the complaint itself shows it: a timeline entry, and
`delivery_problems`, which GET /v1/complaints/{id} returns.

What is kept is what the office needs and no more: the role, the masked address of a
staff recipient, the reason (addresses in it are masked by notification) and the attempts.
A complainant's address is not repeated, masked or not: the timeline is read by handlers,
and the office sees the complainant's contact details where their role allows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.intake.change import Change, Entry
from services.intake.domain.confidentiality import IdentityCipher
from shared.contracts import Envelope, NotificationFailed

ROLE_LABELS = {
    "handler": "承办人",
    "complainant": "投诉人",
    "leadership": "院领导",
    "supervisor": "督办人员",
}


def problem_of(failed: NotificationFailed, *, at: datetime) -> dict[str, Any]:
    role = failed.recipient_role
    return {
        "delivery_id": failed.delivery_id,
        "source_event_id": failed.source_event_id,
        "recipient_role": role,
        "role_label": ROLE_LABELS.get(role, role),
        "recipient": None if role == "complainant" else failed.recipient,
        "channel": failed.channel,
        "reason_code": failed.reason_code,
        "reason": failed.error,
        "attempts": failed.attempts,
        "at": at,
    }


def note_of(problem: dict[str, Any]) -> str:
    who = problem["role_label"]
    if problem["recipient"]:
        who = f"{who}（{problem['recipient']}）"
    return f"通知发送失败：{who}，{problem['reason']}，共尝试{problem['attempts']}次"


def failure_change(
    complaint: dict[str, Any],
    envelope: Envelope,
    failed: NotificationFailed,
    *,
    identity: IdentityCipher,
    now: datetime,
) -> Change:
    """The problem kept on the complaint, and its timeline entry."""
    problem = problem_of(failed, at=now)
    return Change(
        push={"delivery_problems": problem},
        entries=[
            Entry(
                "notification_failed",
                "notification",
                note_of(problem),
                data={k: v for k, v in problem.items() if k != "at"},
            )
        ],
    )
