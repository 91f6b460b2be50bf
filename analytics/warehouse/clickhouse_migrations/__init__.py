"""Numbered ClickHouse migrations: ``NNNN_name.py`` modules with ``statements(ctx)``.

Each module returns the DDL it needs through :class:`analytics.warehouse.migrator.MigrationContext`,
which writes single-node tables or, with ``CLICKHOUSE_CLUSTER`` set, replicated local
tables plus a Distributed table of the plain name, so one set of files serves both.
Applied migrations are recorded in ``schema_migrations``; never edit an applied file,
add a new one.
"""
