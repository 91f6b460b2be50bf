from django.contrib import admin

from analytics.telecom.models import ReadKey


@admin.register(ReadKey)
class ReadKeyAdmin(admin.ModelAdmin):
    """Read keys are created through the API (the raw key is shown once); the admin lists and revokes."""

    list_display = ["id", "project", "label", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    readonly_fields = ["project", "prefix", "key_hash", "created_by", "created_at", "last_used_at"]
    fields = ["project", "label", "prefix", "key_hash", "created_by", "created_at", "last_used_at", "revoked_at"]

    def has_add_permission(self, request: object) -> bool:
        return False
