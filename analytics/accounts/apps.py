from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "analytics.accounts"
    label = "accounts"
