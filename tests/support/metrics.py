"""Reading what a running service counted, the way Prometheus does: its /metrics page."""

from __future__ import annotations

from tests.support.platform import Platform


async def metric(platform: Platform, service: str, name: str, /, **labels: str) -> float | None:
    """The sum of the service's samples of `name` whose labels include `labels`; None when
    it has no such series."""
    async with platform.client(service) as client:
        text = (await client.get("/metrics")).text
    return sample_sum(text, name, **labels)


def sample_sum(text: str, name: str, /, **labels: str) -> float | None:
    """The sum of the samples of `name` in a /metrics page whose labels include `labels`;
    None when it has no such series."""
    found = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if (line.startswith(name + "{") or line.startswith(name + " "))
        and all(f'{key}="{value}"' in line for key, value in labels.items())
    ]
    return sum(found) if found else None


async def consumed(platform: Platform, service: str, /, **labels: str) -> float:
    """How many events the service's consumer handled (of one type, given event_type)."""
    return await metric(platform, service, "huiyin_events_consumed_total", **labels) or 0.0
