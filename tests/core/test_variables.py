"""Every environment variable is declared once (config/variables.py) and read through it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from config import variables as env
from config.env import DeclarationError, Registry, SettingError, variant

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
SETTINGS = CONFIG / "settings"
# The settings module that reads a variable of each scope.
_MODULE_OF_SCOPE = {
    "all": "base.py",
    "embedded": "embedded.py",
    "scale": "scale.py",
    "prod": "prod.py",
    "test": "test.py",
}


def _environ_reads(path: Path) -> list[str]:
    """``os.environ`` / ``os.getenv`` uses in a file that are not plain writes."""
    tree = ast.parse(path.read_text())
    writes: set[int] = set()
    for node in ast.walk(tree):
        # os.environ.setdefault(...) whose value is thrown away, and os.environ[...] = ...
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Attribute) and func.attr == "setdefault":
                writes.add(id(func.value))
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Subscript):
                    writes.add(id(target.value))
    reads = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") and id(node) not in writes:
            reads.append(f"{path}:{node.lineno}")
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and {a.name for a in node.names} & {"environ", "getenv"}
        ):
            reads.append(f"{path}:{node.lineno}")
    return sorted(reads, key=lambda read: int(read.rsplit(":", 1)[1]))


def test_config_reads_the_environment_only_through_declarations() -> None:
    reads = [read for path in sorted(CONFIG.rglob("*.py")) if path.name != "env.py" for read in _environ_reads(path)]
    assert reads == [], "read these through a declaration in config/variables.py"
    # The old helpers (env_int("PORT", 8000, ...)) are gone: nothing can read around the registry.
    helpers = re.compile(r"\benv_(str|int|bool|float|list|url|choice|optional|parsed)\(")
    sources = [*CONFIG.rglob("*.py"), ROOT / "analytics/core/settings_doc.py"]
    assert [str(path) for path in sources if helpers.search(path.read_text())] == []


def test_the_detector_sees_reads_and_ignores_writes(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "import os\n"
        "os.environ.setdefault('A', '1')\n"
        "os.environ['B'] = '2'\n"
        "x = os.environ.get('C')\n"
        "y = os.environ.setdefault('D', '3')\n"
        "z = os.getenv('E')\n"
    )
    assert [line.rsplit(":", 1)[1] for line in _environ_reads(source)] == ["4", "5", "6"]


def test_every_declaration_is_read_by_the_settings_of_its_scope() -> None:
    read_in = {
        name: {
            module
            for module in _MODULE_OF_SCOPE.values()
            if re.search(rf"\benv\.{name}\.get\(\)", (SETTINGS / module).read_text())
        }
        for name in (variable.name for variable in env.registry)
    }
    for variable in env.registry:
        expected = {_MODULE_OF_SCOPE[scope] for scope in variable.scope}
        assert read_in[variable.name] == expected, variable.name
    # ... and each is read once: one .get() per variable in the settings.
    calls = re.findall(r"\benv\.([A-Z_0-9]+)\.get\(\)", "".join(p.read_text() for p in SETTINGS.glob("*.py")))
    assert sorted(calls) == sorted(variable.name for variable in env.registry)


def test_unknown_type_and_duplicate_declaration_are_refused() -> None:
    registry = Registry()
    with pytest.raises(DeclarationError, match="unknown type 'decimal'"):
        registry.declare("decimal", "RATIO", default="0.5", doc="A ratio.")
    registry.integer("WORKERS", default=2, doc="Worker processes.")
    with pytest.raises(DeclarationError, match="WORKERS: declared twice"):
        registry.integer("WORKERS", default=4, doc="Worker processes, again.")
    with pytest.raises(DeclarationError, match="declared twice"):
        registry.text("WORKERS", default="4", doc="Another type does not help.")
    assert [variable.name for variable in registry] == ["WORKERS"]


@pytest.mark.parametrize(
    ("declare", "problem"),
    [
        (lambda r: r.choice("LEVEL", choices=("a", "b"), default="c", doc="d"), "default 'c' is invalid"),
        (lambda r: r.integer("SIZE", default=0, minimum=1, doc="d"), "default 0 is invalid"),
        (lambda r: r.url("LINK", schemes=("redis",), default="http://x", doc="d"), "default 'http://x' is invalid"),
        (lambda r: r.text("NAME", default=lambda: "x", doc="d"), "computed default needs default_doc"),
        (lambda r: r.text("NAME", default="x", doc=""), "description"),
        (lambda r: r.text("NAME", default="x", scope="staging", doc="d"), "scope must be"),
        (lambda r: r.text("NAME", default="x", minimum=1, doc="d"), "minimum/maximum"),
        (lambda r: r.text("NAME", choices=("a",), default="a", doc="d"), "choices belong"),
        (lambda r: r.parsed("RATE", default="1", doc="d"), "parse and expected"),
        (lambda r: r.text("lower", default="x", doc="d"), "UPPER_CASE"),
        (lambda r: r.boolean("FLAG", default=False, variants={"dev": variant(default=True)}, doc="d"), "variants need"),
    ],
)
def test_declarations_that_make_no_sense_are_refused(declare, problem: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DeclarationError, match=re.escape(problem)):
        declare(Registry())


@pytest.mark.parametrize(
    ("variable", "environ", "message"),
    [
        # one variable of each type, as manage.py prints it after "configuration error: "
        (env.HOST, {"HOST": " "}, None),  # blank is unset: the default
        (
            env.KAFKA_BOOTSTRAP_SERVERS,
            {"ANALYTICS_MODE": "scale"},
            "KAFKA_BOOTSTRAP_SERVERS: expected host:port[,host:port] of the Kafka brokers (required in scale mode)",
        ),
        (env.PORT, {"PORT": "abc"}, "PORT: expected a whole number, got 'abc'"),
        (env.PORT, {"PORT": "0"}, "PORT: expected a whole number >= 1, got '0'"),
        (env.PORT, {"PORT": "70000"}, "PORT: expected a whole number <= 65535, got '70000'"),
        (env.DEBUG, {"DEBUG": "maybe"}, "DEBUG: expected a boolean (true/false, 1/0, yes/no), got 'maybe'"),
        (env.LOG_LEVEL, {"LOG_LEVEL": "TRACE"}, "LOG_LEVEL: expected one of DEBUG|INFO|WARNING|ERROR, got 'TRACE'"),
        (
            env.ALLOWED_HOSTS,
            {"ANALYTICS_PROFILE": "prod", "ALLOWED_HOSTS": " , "},
            "ALLOWED_HOSTS: expected a comma-separated list of host names (required in prod)",
        ),
        (
            env.REDIS_URL,
            {"REDIS_URL": "http://cache"},
            "REDIS_URL: expected a URL with scheme redis|rediss|unix://..., got 'http://cache'",
        ),
        (
            env.DATABASE_URL,
            {"ANALYTICS_PROFILE": "dev", "ANALYTICS_MODE": "scale"},
            "DATABASE_URL: expected a URL with scheme postgres|postgresql (it is required)",
        ),
        (
            env.AUTH_RATE_LIMIT,
            {"AUTH_RATE_LIMIT": "lots"},
            "AUTH_RATE_LIMIT: expected a rate such as 30/min (per s|min|hour|day), got 'lots'",
        ),
        (
            env.SECRET_KEY,
            {"ANALYTICS_PROFILE": "prod", "SECRET_KEY": "short"},
            "SECRET_KEY: expected at least 50 random characters (5+ distinct, not django-insecure-), got '5 characters, 5 distinct'",
        ),
        (
            env.SECRET_KEY,
            {"ANALYTICS_PROFILE": "prod"},
            "SECRET_KEY: expected a long random string (50+ characters) (it is required)",
        ),
    ],
)
def test_error_message_names_the_variable_and_what_it_expects(
    monkeypatch: pytest.MonkeyPatch,
    variable,
    environ: dict[str, str],
    message: str | None,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.delenv(variable.name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    if message is None:
        variable.get()
        return
    with pytest.raises(SettingError) as raised:
        variable.get()
    assert str(raised.value) == message
    assert raised.value.name == variable.name


def test_types_without_a_declaration_in_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    registry = Registry()
    ratio = registry.number("RATIO", default=0.5, minimum=0, maximum=1, doc="A fraction.")
    where = registry.path("WHERE", doc="A directory.")
    name = registry.text("NAME", doc="A name.")
    monkeypatch.setenv("RATIO", "half")
    with pytest.raises(SettingError, match=re.escape("RATIO: expected a number, got 'half'")):
        ratio.get()
    monkeypatch.setenv("RATIO", "1.5")
    with pytest.raises(SettingError, match=re.escape("RATIO: expected a number <= 1, got '1.5'")):
        ratio.get()
    with pytest.raises(SettingError, match=re.escape("WHERE: expected a path (it is required)")):
        where.get()
    with pytest.raises(SettingError, match=re.escape("NAME: expected a value (it is required)")):
        name.get()
    monkeypatch.setenv("WHERE", str(tmp_path / "a" / ".." / "b"))
    assert where.get() == tmp_path / "b"


def test_conditional_defaults_follow_the_mode_and_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEBUG", "API_BROWSABLE", "DATABASE_URL", "ALLOWED_HOSTS", "ANALYTICS_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANALYTICS_PROFILE", "dev")
    assert (env.DEBUG.get(), env.API_BROWSABLE.get()) == (True, True)
    assert env.DATABASE_URL.get().startswith("sqlite:///")
    monkeypatch.setenv("ANALYTICS_PROFILE", "prod")
    assert (env.DEBUG.get(), env.API_BROWSABLE.get()) == (False, False)
    monkeypatch.setenv("DEBUG", "yes")
    assert env.DEBUG.get() is True  # the environment wins over any default (prod.py forces it off)
    monkeypatch.setenv("ANALYTICS_PROFILE", "test")
    assert env.DATABASE_URL.get() == "postgres://postgres@127.0.0.1:5432/postgres"
    assert env.ALLOWED_HOSTS.get() == ["127.0.0.1", "localhost", "[::1]"]
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.sqlite3")  # embedded accepts SQLite; test does not
    with pytest.raises(
        SettingError, match=re.escape("DATABASE_URL: expected a URL with scheme postgres|postgresql://...")
    ):
        env.DATABASE_URL.get()
    monkeypatch.setenv("ANALYTICS_PROFILE", "dev")
    assert env.DATABASE_URL.get() == "sqlite:///x.sqlite3"
