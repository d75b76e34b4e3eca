"""Care-record's FastAPI dependencies: who may do what, and the visit policy views need.

Admins write; dispatchers and supervisors read; ops see no personal data, so every
care-record endpoint under /api/v1 refuses them (403). ID numbers are masked for
everyone but admins.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from eldercare.deps import from_app_state
from eldercare.http import require_roles
from eldercare.settings import ApiPrincipal, Role
from services.care_record.elder.visit_policy import VisitPolicy

Reader = Annotated[ApiPrincipal, Depends(require_roles(Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN))]
Admin = Annotated[ApiPrincipal, Depends(require_roles(Role.ADMIN))]


VisitPolicyDep = Annotated[VisitPolicy, from_app_state("visit_policy")]
