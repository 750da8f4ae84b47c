"""What intake's commands and consumers read and write: built once, by bootstrap.py, and
reached by the API through api/deps.py and by the consumers through their handler table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from services.intake.adapters.complaint_views import ComplaintViews
from services.intake.adapters.complaints import ComplaintRepository
from services.intake.adapters.staff_directory import StaffDirectory
from services.intake.domain.confidentiality import IdentityCipher
from shared.matching import DEV_MATCH_KEY
from shared.records import Records


@dataclass(frozen=True)
class IntakePorts:
    complaints: Records  # every change of a complaint, with the events it causes
    repository: ComplaintRepository  # case-number counters, lookups and pages
    directory: StaffDirectory
    identity: IdentityCipher
    views: ComplaintViews  # history buckets and worklists (adapters/complaint_views.py)
    received_window: timedelta = timedelta(days=366)  # oldest received_at a registration takes
    match_key: str = DEV_MATCH_KEY  # the complainant's match key's secret (shared/matching.py)
