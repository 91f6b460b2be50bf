"""Project settings: time zone, session timeout, retention, the write key (copy, rotate),
members and their roles, event schemas. Everyone in the project sees the page; only owners
and admins may change it (the forms are disabled for the others, and the services refuse)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from analytics.accounts.models import MANAGING_ROLES, Membership, Project
from analytics.accounts.selectors import role_for
from analytics.accounts.services import project_rotate_write_key, project_update
from analytics.core.errors import ApplicationError
from analytics.dashboards.forms import MemberRoleForm, ProjectSettingsForm
from analytics.dashboards.services import member_role_change
from analytics.dashboards.views.common import frame_context, page_project, page_user
from analytics.ingestion.selectors import event_schemas_list
from analytics.ingestion.services import telecom_schema_install


def _page(request: HttpRequest, project: Project, form: ProjectSettingsForm, status: int = 200) -> HttpResponse:
    role = role_for(user=page_user(request), project=project)
    members = (
        Membership.objects.filter(organisation_id=project.organisation_id)
        .select_related("user")
        .order_by("user__email")
    )
    context = frame_context(
        request,
        project,
        "settings",
        form=form,
        role=role,
        can_manage=role in MANAGING_ROLES,
        members=members,
        role_form=MemberRoleForm(),
        schemas=event_schemas_list(project_id=project.id),
    )
    return render(request, "dashboards/settings.html", context, status=status)


def _back(project: Project) -> HttpResponse:
    return redirect(reverse("dashboards:settings", args=[project.id]))


@login_required
def settings_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = page_project(request, project_id)
    if request.method != "POST":
        return _page(request, project, ProjectSettingsForm.for_project(project))
    form = ProjectSettingsForm.for_project(project, data=request.POST)
    if not form.is_valid():
        return _page(request, project, form, status=400)
    try:
        project_update(project=project, user=page_user(request), **form.cleaned_data)
    except ApplicationError as error:
        messages.error(request, error.message)
        project.refresh_from_db()
        return _page(request, project, form, status=error.status_code)
    except Exception as error:  # full_clean's ValidationError: name the field on the form
        if hasattr(error, "message_dict"):
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
            project.refresh_from_db()
            return _page(request, project, form, status=400)
        raise
    messages.success(request, "Settings saved.")
    return _back(project)


def _guarded(request: HttpRequest, project: Project, action: str) -> bool:
    if role_for(user=page_user(request), project=project) in MANAGING_ROLES:
        return True
    messages.error(request, f"Only owners and admins can {action}.")
    return False


@login_required
@require_POST
def rotate_key(request: HttpRequest, project_id: int) -> HttpResponse:
    project = page_project(request, project_id)
    if _guarded(request, project, "rotate the write key"):
        project_rotate_write_key(project=project)
        messages.success(request, "New write key issued; the old one no longer works.")
    return _back(project)


@login_required
@require_POST
def change_role(request: HttpRequest, project_id: int) -> HttpResponse:
    project = page_project(request, project_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick a member and a role.")
        return _back(project)
    try:
        membership = member_role_change(
            project=project,
            actor=page_user(request),
            membership_id=form.cleaned_data["membership"],
            role=form.cleaned_data["role"],
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{membership.user.email} is now {membership.get_role_display().lower()}.")
    return _back(project)


@login_required
@require_POST
def install_telecom(request: HttpRequest, project_id: int) -> HttpResponse:
    project = page_project(request, project_id)
    if _guarded(request, project, "install event schemas"):
        installed = telecom_schema_install(project=project)
        messages.success(request, f"Installed {len(installed)} telecom event schemas.")
    return _back(project)
