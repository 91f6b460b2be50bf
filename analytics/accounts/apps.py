from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "analytics.accounts"
    label = "accounts"

    def ready(self) -> None:
        # JWTs verify with the current or a previous signing key (rotation without log-outs).
        from analytics.accounts.tokens import install_rotating_token_backend

        install_rotating_token_backend()
