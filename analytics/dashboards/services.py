"""Writes the settings page makes that the accounts app has no service for."""

from __future__ import annotations

from django.db import transaction

from analytics.accounts.models import Membership, Project, Role, User
from analytics.accounts.services import PermissionDeniedError, project_require_manager
from analytics.core.errors import ApplicationError, NotFound


@transaction.atomic
def member_role_change(*, project: Project, actor: User, membership_id: int, role: str) -> Membership:
    """Give a member of the project's organisation another role (owners and admins only).

    Only an owner may make or unmake an owner, and the organisation keeps at least one owner.
    """
    project_require_manager(project=project, user=actor)
    if role not in Role.values:
        raise ApplicationError("unknown role", extra={"fields": {"role": ["unknown role"]}})
    membership = (
        Membership.objects.select_for_update().filter(pk=membership_id, organisation_id=project.organisation_id).first()
    )
    if membership is None:
        raise NotFound("no such member")
    actor_role = Membership.objects.filter(user=actor, organisation_id=project.organisation_id).values_list(
        "role", flat=True
    )[0]
    if Role.OWNER in (role, membership.role) and actor_role != Role.OWNER:
        raise PermissionDeniedError("only an owner can make or unmake owners")
    if membership.role == Role.OWNER and role != Role.OWNER:
        owners = Membership.objects.filter(organisation_id=project.organisation_id, role=Role.OWNER).count()
        if owners <= 1:
            raise ApplicationError("the organisation needs an owner", extra={"fields": {"role": ["last owner"]}})
    membership.role = role
    membership.save(update_fields=["role"])
    return membership
