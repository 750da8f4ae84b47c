"""`python -m services.intake.rebuild_views`: recompute intake's read models, the history's
day buckets and the worklists (domain/worklists.py), from the complaints (HUIYIN_* settings,
as intake reads them).

The views are derived data. Run this after a crash between a complaint's write and its
views' write (adapters/complaint_views.py), after restoring a backup, or to build them on a
database whose complaints were stored before the views. Idempotent, and safe while intake
runs (ComplaintViews.rebuild says why).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.intake.adapters.complaint_views import ComplaintViews, RebuiltViews
from services.intake.settings import IntakeSettings
from shared.mongo_clients import on_service_database


async def rebuild_views(db: AsyncDatabase[dict[str, Any]]) -> RebuiltViews:
    return await ComplaintViews(db).rebuild(db["complaints"])


def main() -> None:
    print(asyncio.run(on_service_database(IntakeSettings(), rebuild_views)))


if __name__ == "__main__":
    main()
