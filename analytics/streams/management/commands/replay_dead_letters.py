"""``manage.py replay_dead_letters``: send dead letters back to their topic after a fix.

Shows a running count; in embedded mode while `serve` runs, it runs inside the server.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from analytics.core.control import ServerDelegatingCommand
from analytics.core.progress import progress_bar
from analytics.streams.dead_letters import replay_dead_letters
from analytics.streams.registry import get_stream


class Command(ServerDelegatingCommand):
    help = "Replay the dead-letter topic of a stream into the topic each message came from."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--stream", default="events")
        parser.add_argument("--limit", type=int, default=None, help="Replay at most this many messages.")
        parser.add_argument(
            "--idle-timeout", type=float, default=5.0, help="Stop after this many seconds without a dead letter."
        )
        parser.add_argument("--dry-run", action="store_true", help="Count dead letters by reason; replay nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            spec = get_stream(options["stream"])
        except KeyError as error:
            raise CommandError(str(error)) from None
        verb_now = "counting" if options["dry_run"] else "replaying"
        with progress_bar(self.stdout, f"{verb_now} {spec.dead_letter_topic}", total=options["limit"]) as bar:
            result = replay_dead_letters(
                dead_letter_topic=spec.dead_letter_topic,
                target_topic=spec.topic,
                group=f"{spec.group}-dead-letter-replay",
                limit=options["limit"],
                idle_timeout=options["idle_timeout"],
                dry_run=options["dry_run"],
                timeout=float(settings.KAFKA_PRODUCE_TIMEOUT),
                progress=bar.update,
            )
        verb = "found" if options["dry_run"] else "replayed"
        reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(result.by_reason.items()))
        self.stdout.write(f"{verb} {result.replayed} dead letters ({reasons or 'none'})")
