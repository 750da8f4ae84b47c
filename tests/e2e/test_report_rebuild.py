"""Reporting's read models rebuilt from what intake stores give the live figures (issue 12):
complaints taken through the real services (accepted and answered late, not accepted,
transferred, resolved on the spot, awaiting a supplement, extended and disputed twice up
to leadership), then every fact and counter document reporting keeps rebuilt from intake's
records by `python -m services.reporting.rebuild`: the same figures, document by document.
Real RabbitMQ, the MongoDB-wire server and SMTP."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.reporting.domain.classification import (
    contribution_of,
)
from tests.e2e.test_lifecycle_paths import FEES, LEADER, OFFICE, act, read, register, routed
from tests.support.mail import MailSink
from tests.support.platform import Platform
from tests.support.polling import eventually
from tests.support.rebuild import (
    assert_intake_gives_the_live_figures,
    live_figures,
    rebuild_command,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


async def test_the_rebuild_from_intakes_records_gives_the_live_figures(
    platform: Platform, mail: MailSink
) -> None:
    async with platform.staff_client("intake", "hz-001") as intake:
        # Answered after its deadline (received in October), found substantiated, closed.
        late = await register(
            intake, FEES | {"accepted": True, "received_at": "2026-10-09T02:00:00Z"}
        )
        handler = (await routed(intake, late["id"]))["assignment"]["handler"]["staff_id"]
        finding = {"actor": handler, "result": "substantiated", "summary": "属实"}
        await act(intake, late["id"], "finding", finding)
        await act(intake, late["id"], "reply", {"actor": handler, "content": "已退费。"})
        visit = {"method": "phone", "record": "电话回访，患者满意。"}
        await act(
            intake,
            late["id"],
            "close",
            {"actor": OFFICE, "satisfaction": "satisfied", "return_visit": visit},
        )
        # Not accepted, transferred, resolved on the spot, awaiting a supplement.
        refused = await register(intake, FEES)
        await act(
            intake,
            refused["id"],
            "not-accept",
            {"actor": OFFICE, "reason": "in_court_or_mediation", "explanation": "已起诉。"},
        )
        moved = await register(intake, FEES)
        await act(intake, moved["id"], "transfer", {"actor": OFFICE, "to_body": "杭州市医疗保障局"})
        spot = await register(intake, FEES | {"channel": "in_person", "received_by": OFFICE})
        await act(intake, spot["id"], "resolve-on-spot", {"actor": OFFICE, "outcome": "当场退费。"})
        waiting = await register(intake, FEES)
        await act(intake, waiting["id"], "supplement-request", {"actor": OFFICE, "missing": "票据"})
        # Extended, answered, disputed twice: the second dispute goes to leadership.
        disputed = await register(intake, FEES | {"accepted": True})
        document = await routed(intake, disputed["id"])
        handler = document["assignment"]["handler"]["staff_id"]
        due = document["assignment"]["due_at"]
        await act(
            intake,
            disputed["id"],
            "extension-request",
            {"actor": handler, "working_days": 5, "reason": "需调取日志"},
        )
        await act(intake, disputed["id"], "extension-decision", {"actor": LEADER, "approve": True})

        async def extended() -> bool:
            current = await read(intake, disputed["id"])
            return bool(current["assignment"]["due_at"] > due)

        await eventually(extended, what="the extended deadline")
        partly = {"actor": handler, "result": "partly_substantiated", "summary": "部分属实"}
        answer = {"actor": handler, "content": "部分属实，已退费。"}
        for reason in ("对金额有异议", "仍不认可"):
            await act(intake, disputed["id"], "finding", partly)
            await act(intake, disputed["id"], "reply", answer)
            await act(intake, disputed["id"], "dispute", {"actor": OFFICE, "reason": reason})

    await assert_intake_gives_the_live_figures(platform)
    expected = await live_figures(platform)
    facts = platform.services["reporting"].app.state.facts.collection
    counters = platform.services["reporting"].app.state.counters.collection
    columns = {
        c
        for doc in [d async for d in facts.find({})]
        if (contribution := contribution_of(doc))
        for c in contribution.columns
    }
    assert {
        "replied_late",
        "substantiated",
        "satisfied",
        "not_accepted.in_court_or_mediation",
        "transferred",
        "resolved_on_spot",
        "escalated.leadership",
        "open",
    } <= columns, columns

    # The command, after the read models were damaged: a fact document lost, a counter
    # moved. It rebuilds every fact from intake's records and the counters from them.
    await facts.delete_one({"_id": disputed["id"]})
    month = datetime.now().strftime("%Y%m")
    await counters.update_one({"_id": f"{month}/h/hz-001"}, {"$inc": {"d.finance.received": 3}})
    output = rebuild_command(platform)
    assert "rebuilt 6 complaints' facts from intake's records" in output, output
    assert await live_figures(platform) == expected
    assert "0 of them with different figures" in rebuild_command(platform)  # idempotent
