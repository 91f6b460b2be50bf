"""First-run setup for `make run`: an admin user, a demo organisation and project, and
the demo data set. Safe to run on every start: it only creates what is missing.

The admin's random password is printed once and kept in ``DATA_DIR/admin-credentials.txt``
(mode 0600) so it can be looked up later; it is never logged.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from analytics.accounts.models import Membership, Organisation, Project, Role, User
from analytics.accounts.services import organisation_create, project_create
from analytics.core.logging import get_logger
from analytics.platform.demo import demo_load
from analytics.warehouse.guard import Query
from analytics.warehouse.store import get_store

log = get_logger(__name__)

DEMO_ORGANISATION = "Demo"
DEMO_PROJECT = "Demo: web shop & telecom"


class Command(BaseCommand):
    help = "Create the admin user, a demo project and its demo events if they do not exist yet."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--admin-email", default="admin@example.com")
        parser.add_argument(
            "--events", type=int, default=None, help="Demo events to load into an empty store (default: DEMO_EVENTS)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        credentials_file = Path(settings.DATA_DIR) / "admin-credentials.txt"
        admin, password = self._admin(options["admin_email"], credentials_file)
        project = self._demo_project(admin)
        total = settings.DEMO_EVENTS if options["events"] is None else max(0, options["events"])
        stored = self._demo_events(project, total)

        base = f"http://{settings.HOST}:{settings.PORT}"
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Analytics is ready on {base}/  ({settings.ANALYTICS_MODE} mode)"))
        self.stdout.write(f"  admin:        {base}/admin/")
        self.stdout.write(f"  API docs:     {base}/api/docs/")
        self.stdout.write(f"  log in as:    {admin.email}")
        if password:
            self.stdout.write(f"  password:     {password}   (shown once; also saved in {credentials_file})")
        else:
            self.stdout.write(f"  password:     see {credentials_file}")
        self.stdout.write(f"  demo project: id {project.id}, write key {project.write_key}, {stored:,} events")
        self.stdout.write(f"  data lives in {settings.DATA_DIR}")
        self.stdout.write("")

    def _admin(self, email: str, credentials_file: Path) -> tuple[User, str | None]:
        existing = User.objects.filter(is_superuser=True).order_by("id").first()
        if existing is not None:
            return existing, None
        password = secrets.token_urlsafe(12)
        admin = User.objects.create_superuser(email=email, password=password, name="Admin")
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        credentials_file.write_text(f"email: {email}\npassword: {password}\n")
        credentials_file.chmod(0o600)
        log.info("bootstrap.admin.created", user_id=admin.id)
        return admin, password

    @transaction.atomic
    def _demo_project(self, admin: User) -> Project:
        project = Project.objects.filter(organisation__name=DEMO_ORGANISATION, name=DEMO_PROJECT).first()
        if project is not None:
            return project
        organisation = Organisation.objects.filter(name=DEMO_ORGANISATION).first()
        if organisation is None:
            organisation = organisation_create(name=DEMO_ORGANISATION, owner=admin)
        elif not Membership.objects.filter(organisation=organisation, user=admin).exists():
            Membership.objects.create(organisation=organisation, user=admin, role=Role.OWNER)
        project = project_create(
            user=admin, name=DEMO_PROJECT, timezone_name="Europe/Berlin", organisation=organisation
        )
        log.info("bootstrap.project.created", project_id=project.id)
        return project

    def _demo_events(self, project: Project, total: int) -> int:
        count = Query(
            name="bootstrap.demo_count",
            sql="SELECT count() FROM events WHERE project_id = {project_id:UInt64}",
            params={"project_id": project.id},
        )
        existing = int(get_store().query(count).scalar() or 0)
        if existing or total <= 0:
            return existing
        self.stdout.write(f"Loading {total:,} demo events through ingestion (first run only) ...")
        started = time.monotonic()
        last_report = [started]

        def progress(done: int, of: int) -> None:
            if time.monotonic() - last_report[0] >= 5 or done >= of:
                last_report[0] = time.monotonic()
                self.stdout.write(f"  {done:,} / {of:,} events")

        demo_load(project_id=project.id, total=total, progress=progress)
        stored = int(get_store().query(count).scalar() or 0)
        self.stdout.write(f"Loaded {stored:,} demo events in {time.monotonic() - started:.1f} s.")
        return stored
