"""README.md documents every environment variable the settings read, and no other."""

from __future__ import annotations

import re
from pathlib import Path

from analytics.core.settings_doc import environment_variables, markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_table_lists_exactly_the_variables_the_settings_read() -> None:
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", README.read_text(), re.M))
    read = {variable.name for variable in environment_variables()}
    assert read - documented == set(), "add these to README.md (python manage.py settings_doc prints the table)"
    assert documented - read == set(), "README.md documents variables nothing reads"


def test_settings_doc_describes_every_variable() -> None:
    variables = environment_variables()
    assert {"ANALYTICS_MODE", "PORT", "SECRET_KEY", "DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"} <= {
        variable.name for variable in variables
    }
    port = next(variable for variable in variables if variable.name == "PORT")
    assert (port.kind, port.default) == ("integer (≥ 1, ≤ 65535)", "`8000`")
    assert "| `ANALYTICS_MODE` | `embedded` \\| `scale` | `embedded` |" in markdown_table(variables)


def test_readme_table_is_the_rendered_registry() -> None:
    """Types, defaults and descriptions in README.md are the declarations' (python manage.py settings_doc)."""
    assert markdown_table() in README.read_text(), "regenerate README.md's table with python manage.py settings_doc"


def test_variants_are_rendered_with_their_mode_or_profile() -> None:
    rows = {variable.name: variable for variable in environment_variables()}
    assert rows["DEBUG"].default == "`true` in dev, else `false`"
    assert rows["ALLOWED_HOSTS"].default == "required in prod, else `127.0.0.1,localhost,[::1]`"
    assert (
        rows["DATABASE_URL"].kind
        == "URL (`sqlite://`, `postgres://`, `postgresql://`; scale, test: `postgres://`, `postgresql://`)"
    )
    assert rows["STATIC_ROOT"].default == "`$DATA_DIR/static`"
    assert (rows["CSRF_TRUSTED_ORIGINS"].scope, rows["CSRF_TRUSTED_ORIGINS"].default) == ("prod", "empty")
