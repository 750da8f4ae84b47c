"""Which events intake reacts to, and with which command."""

from __future__ import annotations

from services.intake.adapters.complaints import ComplaintRepository
from services.intake.service import apply_routing
from shared.consumer import Handler
from shared.runtime import ServiceRuntime


def handlers(*, runtime: ServiceRuntime, repository: ComplaintRepository) -> dict[str, Handler]:
    async def on_routed(envelope, payload) -> None:  # type: ignore[no-untyped-def]
        await apply_routing(
            envelope, payload, repository=repository, relay=runtime.relay_for(repository.collection)
        )

    return {"complaint.routed": on_routed}
