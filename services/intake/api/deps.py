"""What intake's routes depend on, as `Annotated` aliases: the ports bootstrap built once,
the identity access log and the hospitals' assertion keys. Who calls is
shared/auth.py's CurrentPrincipal."""

from __future__ import annotations

from typing import Annotated

from services.intake.adapters.identity_reads import IdentityReadLog
from services.intake.adapters.staff_assertions import AssertionKeyStore
from services.intake.ports import IntakePorts
from shared.http import from_app_state

PortsDep = Annotated[IntakePorts, from_app_state("ports")]
IdentityReadsDep = Annotated[IdentityReadLog, from_app_state("identity_reads")]
AssertionKeysDep = Annotated[AssertionKeyStore, from_app_state("assertion_keys")]
