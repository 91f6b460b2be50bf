"""`manage.py audit_export --organisation ID [--from T] [--to T] [--format csv|json] [--output FILE]`.

The operator's copy of an organisation's audit log (the same rows and columns as the API's
export), with a progress bar on the terminal. ``--output`` - or no ``--output`` - writes to
standard output; the bar then goes to standard error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from analytics.accounts.models import Organisation
from analytics.audit.exports import csv_stream, json_stream
from analytics.audit.selectors import audit_entries_for_organisation
from analytics.core.progress import progress_bar
from analytics.core.timeutils import parse_iso_utc


class Command(BaseCommand):
    help = "Export an organisation's audit log as CSV or JSON."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--organisation", type=int, required=True, help="Organisation id.")
        parser.add_argument("--from", dest="start", help="ISO-8601 start (inclusive).")
        parser.add_argument("--to", dest="end", help="ISO-8601 end (exclusive).")
        parser.add_argument("--format", dest="file_format", choices=["csv", "json"], default="csv")
        parser.add_argument("--output", default="-", help="A file to write, or - for standard output.")

    def handle(self, *args: Any, **options: Any) -> None:
        organisation = Organisation.objects.filter(pk=options["organisation"]).first()
        if organisation is None:
            raise CommandError(f"no organisation with id {options['organisation']}")
        try:
            start = parse_iso_utc(options["start"]) if options["start"] else None
            end = parse_iso_utc(options["end"]) if options["end"] else None
        except ValueError as error:
            raise CommandError(f"--from/--to must be ISO-8601 times: {error}") from None
        entries = audit_entries_for_organisation(organisation=organisation, start=start, end=end)
        to_stdout = options["output"] == "-"
        bar_stream = self.stderr if to_stdout else self.stdout
        stream = csv_stream if options["file_format"] == "csv" else json_stream
        with progress_bar(bar_stream, f"audit log of {organisation}", total=entries.count()) as bar:
            pieces = stream(entries, on_row=bar.advance)
            if to_stdout:
                for piece in pieces:
                    sys.stdout.write(piece)
            else:
                with Path(options["output"]).open("w", encoding="utf-8", newline="") as target:
                    for piece in pieces:
                        target.write(piece)
        if not to_stdout:
            self.stdout.write(f"wrote {entries.count()} entries to {options['output']}")
