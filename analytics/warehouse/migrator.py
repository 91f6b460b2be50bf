"""Applies the numbered ClickHouse migrations and records what was applied.

Used by ``manage.py clickhouse_migrate`` (``--plan`` lists what is pending).
Idempotent: applied versions are skipped, and every DDL uses IF NOT EXISTS.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass
from types import ModuleType

from analytics.core.logging import get_logger
from analytics.warehouse.store import EventStore

log = get_logger(__name__)

MIGRATIONS_PACKAGE = "analytics.warehouse.clickhouse_migrations"
RECORD_TABLE = "schema_migrations"
_MODULE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _checked_name(value: str, what: str) -> str:
    # Database and cluster names are pasted into DDL (ClickHouse has no parameters there).
    if not _NAME.match(value):
        raise ValueError(f"invalid ClickHouse {what} name {value!r}")
    return value


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    module: ModuleType

    @property
    def checksum(self) -> str:
        return hashlib.sha256(inspect.getsource(self.module).encode()).hexdigest()[:16]

    def matches(self, recorded: str) -> bool:
        """Whether ``recorded`` is this file's checksum, or one of its earlier texts that the
        module lists in ``ACCEPTED_CHECKSUMS`` (a comment edit, the statements unchanged)."""
        return recorded == self.checksum or recorded in getattr(self.module, "ACCEPTED_CHECKSUMS", ())


class MigrationContext:
    """Writes DDL for a single node or, with a cluster name, for a replicated cluster."""

    def __init__(self, database: str, cluster: str | None) -> None:
        self.database = _checked_name(database, "database")
        self.cluster = _checked_name(cluster, "cluster") if cluster else None

    @property
    def on_cluster(self) -> str:
        return f" ON CLUSTER `{self.cluster}`" if self.cluster else ""

    def create_table(
        self,
        name: str,
        *,
        columns: list[str],
        engine: str,
        order_by: str,
        partition_by: str | None = None,
        ttl: str | None = None,
        indexes: list[str] | None = None,
        settings: dict[str, int | str] | None = None,
        sharding_key: str | None = None,
        replicated_path: str | None = None,
    ) -> list[str]:
        """CREATE TABLE statement(s): one table, or in cluster mode ``<name>_local`` + Distributed.

        In cluster mode ``sharding_key`` is required and must send every copy of a row
        (same dedup key) to the same shard, or ReplacingMergeTree could never collapse
        them: never ``rand()`` for a Replacing table. ``replicated_path`` overrides the
        Keeper path (default: one per shard).
        """
        if self.cluster and not sharding_key:
            raise ValueError(f"table {name!r}: cluster mode needs a deterministic sharding_key")
        body = ",\n    ".join(columns + list(indexes or []))
        table_settings = dict(settings or {})
        local_name = name
        if self.cluster:
            local_name = f"{name}_local"
            family, _, args = engine.partition("(")
            args = args.rstrip(")")
            path = replicated_path or f"/clickhouse/tables/{{shard}}/{self.database}/{local_name}"
            zk_path = f"'{path}', '{{replica}}'"
            engine = f"Replicated{family}({zk_path}{', ' + args if args else ''})"
            table_settings.pop("non_replicated_deduplication_window", None)
            table_settings.setdefault("replicated_deduplication_window", 10000)
        clauses = [f"ENGINE = {engine}"]
        if partition_by:
            clauses.append(f"PARTITION BY {partition_by}")
        clauses.append(f"ORDER BY {order_by}")
        if ttl:
            clauses.append(f"TTL {ttl}")
        if table_settings:
            clauses.append("SETTINGS " + ", ".join(f"{key} = {value}" for key, value in table_settings.items()))
        statements = [
            f"CREATE TABLE IF NOT EXISTS `{self.database}`.`{local_name}`{self.on_cluster} (\n    {body}\n)\n"
            + "\n".join(clauses)
        ]
        if self.cluster:
            statements.append(
                f"CREATE TABLE IF NOT EXISTS `{self.database}`.`{name}`{self.on_cluster} "
                f"AS `{self.database}`.`{local_name}` "
                f"ENGINE = Distributed('{self.cluster}', '{self.database}', '{local_name}', {sharding_key})"
            )
        return statements


def discover() -> list[Migration]:
    package = importlib.import_module(MIGRATIONS_PACKAGE)
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        match = _MODULE_NAME.match(info.name)
        if not match:
            continue
        module = importlib.import_module(f"{MIGRATIONS_PACKAGE}.{info.name}")
        found.append(Migration(version=int(match.group(1)), name=match.group(2), module=module))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"duplicate ClickHouse migration numbers in {MIGRATIONS_PACKAGE}")
    return found


class Migrator:
    """Plans and applies the numbered migrations against one store."""

    def __init__(self, store: EventStore, *, cluster: str | None = None) -> None:
        self.store = store
        self.context = MigrationContext(store.transport.database, cluster)

    def record_table_statement(self) -> str:
        """The table of applied versions. In cluster mode every node replicates ONE copy
        (a Keeper path without ``{shard}``), so any node knows what the cluster has applied."""
        engine = "ReplacingMergeTree"
        if self.context.cluster:
            engine = (
                f"ReplicatedReplacingMergeTree('/clickhouse/tables/all/{self.context.database}/{RECORD_TABLE}', "
                "'{replica}')"
            )
        return (
            f"CREATE TABLE IF NOT EXISTS `{self.context.database}`.`{RECORD_TABLE}`{self.context.on_cluster} "
            f"(version UInt32, name String, checksum String, applied_at DateTime DEFAULT now()) "
            f"ENGINE = {engine} ORDER BY version"
        )

    def _ensure_record_table(self) -> None:
        self.store.command(self.record_table_statement(), retry_transient=True)

    def statements(self, migration: Migration) -> list[str]:
        """The DDL one migration emits for this store (single node or cluster)."""
        return list(migration.module.statements(self.context))

    def applied(self) -> dict[int, str]:
        self._ensure_record_table()
        result = self.store.query_unscoped_admin(
            "migrations.applied", f"SELECT version, checksum FROM `{self.context.database}`.`{RECORD_TABLE}` FINAL"
        )
        return {int(version): str(checksum) for version, checksum in result.rows()}

    def plan(self, applied: dict[int, str] | None = None) -> list[Migration]:
        """Pending migrations; ``applied`` (from :meth:`applied`) saves reading the record again."""
        applied = self.applied() if applied is None else applied
        return [migration for migration in discover() if migration.version not in applied]

    def changed(self, applied: dict[int, str] | None = None) -> list[Migration]:
        """Applied migrations whose file changed since (a warning, never re-applied)."""
        applied = self.applied() if applied is None else applied
        return [m for m in discover() if m.version in applied and not m.matches(applied[m.version])]

    def migrate(self, applied: dict[int, str] | None = None) -> list[Migration]:
        done = []
        for migration in self.plan(applied):
            for statement in self.statements(migration):
                self.store.command(statement, retry_transient=True)
            self.store.command(
                f"INSERT INTO `{self.context.database}`.`{RECORD_TABLE}` (version, name, checksum) "
                f"VALUES ({migration.version}, '{migration.name}', '{migration.checksum}')"
            )
            log.info("clickhouse.migration.applied", version=migration.version, migration=migration.name)
            done.append(migration)
        return done
