"""``manage.py forget_persons --project N --ids-file F``: forget a list of persons.

One distinct id per line (blank lines are skipped; ``-`` reads standard input). Each id
becomes a deletion request (source "command") that is worked through here, one after the
other, with a progress bar on stderr; ``--queue`` hands them to the Celery workers
instead. The summary names request ids and states, never the distinct ids.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.accounts.models import Project
from analytics.core.errors import ApplicationError
from analytics.privacy import services
from analytics.privacy.models import DeletionSource

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Forget the persons of a list of distinct ids (events, persons, identities, memberships, rollups)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", type=int, required=True, help="project id")
        parser.add_argument("--ids-file", required=True, help="a file with one distinct id per line ('-': stdin)")
        parser.add_argument("--suppress", action="store_true", help="also put every id on the suppression list")
        parser.add_argument("--queue", action="store_true", help="hand the work to Celery instead of doing it here")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(pk=options["project"]).first()
        if project is None:
            raise CommandError(f"no project {options['project']}")
        ids = self._read_ids(options["ids_file"])
        if not ids:
            raise CommandError("the ids file holds no id")
        for line, distinct_id in enumerate(ids, start=1):
            try:
                services.valid_distinct_id(distinct_id)
            except ApplicationError as error:
                raise CommandError(f"line {line}: {error.message}; nothing was deleted") from None
        states: Counter[str] = Counter()
        for done, distinct_id in enumerate(ids, start=1):
            deletion = services.deletion_request(
                project=project,
                distinct_id=distinct_id,
                user=None,
                source=DeletionSource.COMMAND,
                suppress=options["suppress"],
                check_role=False,
                run=options["queue"],
            )
            if not options["queue"]:
                try:
                    deletion = services.deletion_execute(deletion_id=str(deletion.id), distinct_id=distinct_id)
                except Exception as error:  # recorded on the request; go on with the others
                    self.stderr.write(f"\nrequest {deletion.id}: failed ({type(error).__name__})")
                    deletion.refresh_from_db()
            states[str(deletion.state)] += 1
            self._bar(done, len(ids))
        self.stderr.write("\n")
        summary = ", ".join(f"{state}={count}" for state, count in sorted(states.items()))
        self.stdout.write(f"project {project.id}: {len(ids)} request(s): {summary}")
        if states.get("failed"):
            raise CommandError("some requests failed; see them in the admin (Privacy > Deletion requests)")

    @staticmethod
    def _read_ids(path: str) -> list[str]:
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"cannot read {path}: {error}") from None
        seen: dict[str, None] = {}
        for line in text.splitlines():
            if line.strip():
                seen.setdefault(line.rstrip("\r"), None)
        return list(seen)

    def _bar(self, done: int, total: int) -> None:
        filled = BAR_WIDTH * done // max(total, 1)
        self.stderr.write(f"\rforgetting [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}", ending="")
        self.stderr.flush()
