"""The platform's time, which a test can move.

What decides by the time (the SLA scan: which points have passed; notification: office
hours of staff notices) reads it here, never `datetime.now` itself. In production it is the
real time. A test that must see a case two weeks overdue without waiting two weeks sets
HUIYIN_CLOCK_FILE (ServiceSettings.clock_file, refused in production) to a file holding
the seconds to add, and rewrites it with `set_offset` to move the clock: the file is read
at every reading, so a worker or service already running follows at once, whichever
process it is. A missing or empty file is the real time.

Leases and schedules (shared/celery_beat.py) keep the real time: they coordinate processes,
they do not judge cases.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.settings import ServiceSettings


@dataclass(frozen=True)
class Clock:
    offset_file: Path | None = None

    @classmethod
    def of(cls, settings: ServiceSettings) -> Clock:
        return cls(Path(settings.clock_file) if settings.clock_file else None)

    def now(self) -> datetime:
        """The platform's time, in UTC."""
        return datetime.now(UTC) + self.offset()

    def offset(self) -> timedelta:
        if self.offset_file is None:
            return timedelta(0)
        try:
            text = self.offset_file.read_text().strip()
        except FileNotFoundError:
            return timedelta(0)
        # A file that says something else is a broken test set-up: fail, never guess.
        return timedelta(seconds=float(text)) if text else timedelta(0)


def now(settings: ServiceSettings) -> datetime:
    """The platform's time under these settings (the real time unless a test moves it)."""
    return Clock.of(settings).now()


def set_offset(offset_file: Path, offset: timedelta) -> None:
    """Move every clock that reads `offset_file` to the real time plus `offset`. Written
    whole, then renamed: a reader never sees half a number."""
    partial = offset_file.with_name(f"{offset_file.name}.{os.getpid()}.partial")
    partial.write_text(f"{offset.total_seconds()}\n")
    partial.replace(offset_file)
