from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "analytics.privacy"
    label = "privacy"
    verbose_name = "Privacy"

    def ready(self) -> None:
        from analytics.ingestion.row_policy import register_policy_provider
        from analytics.privacy.policy import PROVIDER

        # Ingestion asks this provider for each request's rules (suppression, anonymisation).
        register_policy_provider(PROVIDER)
        from analytics.privacy.services import register_membership_eraser
        from analytics.segments.services import segment_memberships_forget

        # Segment memberships kept in ClickHouse (static lists, materialised versions).
        register_membership_eraser("segments", segment_memberships_forget)
