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
        # Segment memberships: the segments app has no membership tables yet. When it has,
        # register its eraser here with analytics.privacy.services.register_membership_eraser.
