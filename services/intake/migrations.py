"""Complaints stored in an earlier format, brought to the current one at start.

Issue 2's format: identities in clear and an unchained timeline. Each such complaint gets
its identity sealed and its existing entries chained, with an entry that says so; nothing
is dropped. Runs at every start and finds nothing on a current database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.intake.change import Change, Entry, chained
from services.intake.domain.confidentiality import IdentityCipher, is_sealed
from services.intake.ports import IntakePorts
from shared.records import Decision

UPGRADE_NOTE = "身份加密与时间线链式校验启用"


def upgrade(complaint: dict[str, Any], identity: IdentityCipher, *, now: datetime) -> Change | None:
    """The upgrade of one complaint stored before chaining; None when it is current."""
    if "timeline_head" in complaint:
        return None
    entries = [
        Entry(e["type"], e.get("by"), e.get("note"), at=e["at"])
        for e in complaint.get("timeline", [])
    ]
    entries.append(Entry("record_upgraded", "intake", UPGRADE_NOTE, at=now))
    timeline, head = chained(complaint["_id"], None, entries, at=now)
    change = Change(set={"timeline": timeline, "timeline_head": head})
    clear = complaint.get("complainant")
    if clear and not any(is_sealed(value) for value in clear.values()):
        change.set["complainant"] = identity.seal(complaint["_id"], clear)
    return change


async def upgrade_earlier_complaints(*, ports: IntakePorts) -> int:
    """Upgrade every complaint stored in issue 2's format; returns how many were found."""
    found = await ports.repository.without_chained_timeline()
    for complaint_id in found:

        def decide(complaint: dict[str, Any]) -> Decision | None:
            now = datetime.now(UTC)
            change = upgrade(complaint, ports.identity, now=now)
            return change.decision(complaint, now=now) if change else None

        await ports.complaints.change(complaint_id, decide)
    return len(found)
