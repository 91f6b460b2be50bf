"""The settings page's forms. Validation repeats the model's bounds so the page can name
the field; the services validate again (``full_clean``) before saving."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms

from analytics.accounts.models import Project, Role


def _zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


class ProjectSettingsForm(forms.Form):
    name = forms.CharField(max_length=200)
    timezone = forms.ChoiceField(label="Time zone", choices=_zone_choices)
    retention_days = forms.IntegerField(
        label="Data retention (days)", min_value=1, max_value=3650, help_text="Older events are deleted."
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The session settings exist once the sessions work adds them to the project.
        if hasattr(project, "session_timeout_minutes"):
            self.fields["session_timeout_minutes"] = forms.IntegerField(
                label="Session timeout (minutes)",
                min_value=1,
                max_value=1440,
                help_text="A visit ends after this long without events.",
            )
        if hasattr(project, "session_split_at_midnight"):
            self.fields["session_split_at_midnight"] = forms.BooleanField(
                label="End sessions at midnight", required=False
            )

    @classmethod
    def for_project(cls, project: Project, data: Any = None) -> ProjectSettingsForm:
        initial = {name: getattr(project, name, None) for name in cls.field_names(project)}
        return cls(data, project=project, initial=initial)

    @staticmethod
    def field_names(project: Project) -> list[str]:
        names = ["name", "timezone", "retention_days"]
        names += [name for name in ("session_timeout_minutes", "session_split_at_midnight") if hasattr(project, name)]
        return names


class MemberRoleForm(forms.Form):
    membership = forms.IntegerField(widget=forms.HiddenInput)
    role = forms.ChoiceField(choices=Role.choices)
