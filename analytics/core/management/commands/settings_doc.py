"""Print the Markdown table of every declared environment variable (config/variables.py), for README.md."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from analytics.core.settings_doc import markdown_table


class Command(BaseCommand):
    help = "Print the table of environment variables (name, type, default, scope, description)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(markdown_table())
