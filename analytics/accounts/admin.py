"""Django admin for operators: users, organisations, memberships, projects, API keys."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import QuerySet
from django.http import HttpRequest

from analytics.accounts.models import Membership, Organisation, PersonalApiKey, Project, User
from analytics.accounts.services import personal_api_key_revoke, project_rotate_write_key, write_keys_settle


class UserCreationAdminForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].lower()


class UserChangeAdminForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "name"]
    fieldsets = (
        (None, {"fields": ("email", "password", "name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    date_hierarchy = "created_at"
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organisation", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["user", "organisation"]
    search_fields = ["user__email", "organisation__name"]
    autocomplete_fields = ["user", "organisation"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "organisation",
        "timezone",
        "retention_days",
        "session_timeout_minutes",
        "ingest_rate_limit",
        "created_at",
    ]
    list_filter = ["timezone", "keep_full_ip", "session_split_at_midnight"]
    search_fields = ["name", "organisation__name"]
    list_select_related = ["organisation"]
    readonly_fields = ["write_key", "write_key_rotated_at", "created_at"]
    autocomplete_fields = ["organisation"]
    actions = ["rotate_write_keys"]

    @admin.action(description="Rotate write keys (old keys stop working at once)")
    def rotate_write_keys(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        rotated = 0
        for project in queryset:
            project_rotate_write_key(project=project, wait=False)
            rotated += 1
        write_keys_settle()  # once for all: then no process accepts any of the old keys
        self.message_user(request, f"Rotated {rotated} write key(s).", messages.SUCCESS)


@admin.register(PersonalApiKey)
class PersonalApiKeyAdmin(admin.ModelAdmin):
    list_display = ["label", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["label", "user__email", "prefix"]
    readonly_fields = ["prefix", "key_hash", "created_at", "last_used_at"]
    actions = ["revoke_keys"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are created through the API, which shows the raw key once

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[PersonalApiKey]) -> None:
        revoked = 0
        for key in queryset:
            personal_api_key_revoke(key=key)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)
