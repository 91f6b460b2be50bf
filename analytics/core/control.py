"""The embedded server's control socket: management commands run inside `manage.py serve`.

chDB lets one process open a data directory. While `serve` runs in embedded mode, a
command that needs the event store (``aggregate_backfill``, ``aggregate --once``,
``clickhouse_migrate``, ``replay_dead_letters``, ``backup``) cannot open it itself, so it
hands its work to the server:

- `serve` listens on a Unix socket, ``$DATA_DIR/control.sock`` (:func:`control_socket_path`), created with mode 0600
  (only the operating-system user that runs the server can connect) and checks each peer's
  user id (``SO_PEERCRED``) as well.
- A command class derived from :class:`ServerDelegatingCommand` first looks for that
  socket. When a server answers there, it sends its name and options (one JSON line); the
  server runs the same command with ``call_command`` in a thread of its own, streaming every
  write to stdout and stderr back as it happens (progress bars included), then the exit
  status. With no server (no socket, or a stale one nobody answers), the command runs
  in its own process as before.
- A command that cannot run beside the server (``restore``; ``aggregate`` without
  ``--once``, which the server already does) is refused at once with one line saying what
  to do.

Protocol: newline-delimited JSON. Request ``{"command", "args", "options", "tty"}`` (``args``:
the positional arguments, ``options``: the rest by destination name); answers
``{"stream": "stdout"|"stderr", "text"}`` any number of times, then ``{"exit": 0}`` or
``{"exit": 1, "error": "..."}``. Closing the connection (Ctrl-C in the client) makes the
next write inside the server fail, which stops the command.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.db import connections

from analytics.core.logging import get_logger

log = get_logger(__name__)

SOCKET_NAME = "control.sock"
# AF_UNIX paths are limited to 108 bytes on Linux, the terminating NUL included.
MAX_SOCKET_PATH = 107
CONNECT_TIMEOUT_SECONDS = 2.0
# Options every management command has; they describe the client process, not the work.
CLIENT_ONLY_OPTIONS = frozenset(
    {"help", "version", "settings", "pythonpath", "traceback", "no_color", "force_color", "skip_checks"}
)

_server_lock = threading.Lock()
_inside = threading.local()
_server: ControlServer | None = None


class ServerRefused(CommandError):
    """The running server cannot take this command; the message says what to do instead."""


def control_socket_path() -> Path:
    """``$DATA_DIR/control.sock``; under the temporary directory when that path is too long
    for a Unix socket (named after DATA_DIR, so each data directory has its own)."""
    data_dir = Path(settings.DATA_DIR).resolve()
    path = data_dir / SOCKET_NAME
    if len(str(path).encode()) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"analytics-control-{digest}.sock"


def is_server_process() -> bool:
    """True inside a `serve` process that listens on the control socket, and in the threads
    that run its clients' commands (which must never hand their work on again)."""
    return _server is not None or getattr(_inside, "command", False)


# ------------------------------------------------------------------------------
# Server side (inside `manage.py serve`)
# ------------------------------------------------------------------------------
class _SocketWriter:
    """A text stream that sends every write to the client as one JSON line."""

    def __init__(self, connection: socket.socket, stream: str, lock: threading.Lock, tty: bool) -> None:
        self._connection = connection
        self._stream = stream
        self._lock = lock
        self._tty = tty

    def write(self, text: str) -> int:
        if text:
            _send(self._connection, {"stream": self._stream, "text": text}, self._lock)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self._tty


def _send(connection: socket.socket, message: dict[str, Any], lock: threading.Lock) -> None:
    data = (json.dumps(message) + "\n").encode()
    with lock:
        connection.sendall(data)


def _peer_uid(connection: socket.socket) -> int | None:
    if not hasattr(socket, "SO_PEERCRED"):
        return None  # not Linux: the socket's file mode is the only check
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return int(uid)


def _delegable_command(name: str) -> BaseCommand | None:
    app = get_commands().get(name)
    if app is None:
        return None
    command = app if isinstance(app, BaseCommand) else load_command_class(app, name)
    return command if getattr(command, "runs_in_server", False) else None


class ControlServer:
    """Accepts control connections on a Unix socket; one thread per command."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)  # a stale socket of a server that died
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        previous_umask = os.umask(0o177)  # created 0600: no window where others could connect
        try:
            listener.bind(str(self.path))
        finally:
            os.umask(previous_umask)
        listener.listen(8)
        listener.settimeout(0.5)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept_loop, name="control-socket", daemon=True)
        self._thread.start()
        log.info("control.listening", path=str(self.path))

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        self.path.unlink(missing_ok=True)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                log.exception("control.accept_failed")
                continue
            threading.Thread(target=self._serve, args=(connection,), name="control-command", daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        lock = threading.Lock()
        try:
            with connection:
                connection.settimeout(None)
                uid = _peer_uid(connection)
                if uid is not None and uid != os.getuid():
                    _send(connection, {"exit": 1, "error": "refused: another operating-system user"}, lock)
                    return
                request = json.loads(connection.makefile("rb").readline() or b"{}")
                self._run(connection, request, lock)
        except (BrokenPipeError, ConnectionResetError):
            log.info("control.client_gone")
        except Exception:
            log.exception("control.failed")
        finally:
            connections.close_all()  # this thread's database connections

    def _run(self, connection: socket.socket, request: dict[str, Any], lock: threading.Lock) -> None:
        name = str(request.get("command", ""))
        options = request.get("options") or {}
        positional = request.get("args") or []
        command = _delegable_command(name)
        if command is None or not isinstance(options, dict) or not isinstance(positional, list):
            _send(connection, {"exit": 1, "error": f"the server does not run {name!r} for clients"}, lock)
            return
        tty = bool(request.get("tty"))
        stdout = _SocketWriter(connection, "stdout", lock, tty)
        stderr = _SocketWriter(connection, "stderr", lock, tty)
        log.info("control.command.start", command=name)
        _inside.command = True
        try:
            call_command(command, *[str(value) for value in positional], stdout=stdout, stderr=stderr, **options)
        except (BrokenPipeError, ConnectionResetError):
            raise
        except CommandError as error:
            _send(connection, {"exit": 1, "error": str(error)}, lock)
            log.info("control.command.failed", command=name, error=str(error))
            return
        except Exception as error:
            log.exception("control.command.crashed", command=name)
            _send(connection, {"exit": 1, "error": f"{type(error).__name__}: {error}"}, lock)
            return
        finally:
            _inside.command = False
        _send(connection, {"exit": 0}, lock)
        log.info("control.command.done", command=name)


def start_control_server() -> ControlServer | None:
    """Listen on the control socket (embedded mode; called by `serve`). None if not possible."""
    global _server
    path = control_socket_path()
    if len(str(path).encode()) > MAX_SOCKET_PATH:
        log.warning("control.path_too_long", path=str(path))
        return None
    with _server_lock:
        if _server is None:
            server = ControlServer(path)
            server.start()
            _server = server
        return _server


def stop_control_server() -> None:
    global _server
    with _server_lock:
        if _server is not None:
            _server.stop()
        _server = None


# ------------------------------------------------------------------------------
# Client side (a management command run while `serve` runs)
# ------------------------------------------------------------------------------
def _connect() -> socket.socket | None:
    """A connection to a live server's control socket, or None when no server answers."""
    if settings.ANALYTICS_MODE != "embedded" or is_server_process():
        return None
    path = control_socket_path()
    if not path.exists() or len(str(path).encode()) > MAX_SOCKET_PATH:
        return None
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(CONNECT_TIMEOUT_SECONDS)
    try:
        client.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        client.close()
        return None  # a stale socket: the server is gone, so the store is free
    client.settimeout(None)
    return client


def server_running() -> bool:
    """True when a `serve` process answers on this DATA_DIR's control socket."""
    connection = _connect()
    if connection is None:
        return False
    connection.close()
    return True


def store_held_by_server() -> str | None:
    """One line for a process that found the embedded store locked by the running server."""
    if not server_running():
        return None
    return (
        f"the event store of DATA_DIR={settings.DATA_DIR} is open in the running `manage.py serve`; "
        "stop it first, or use a command that runs inside it (aggregate_backfill, aggregate --once, "
        "clickhouse_migrate, replay_dead_letters, backup)."
    )


def _messages(connection: socket.socket) -> Iterator[dict[str, Any]]:
    with connection.makefile("rb") as lines:
        for line in lines:
            yield json.loads(line)


def run_in_server(command: str, args: list[str], options: dict[str, Any], *, stdout: TextIO, stderr: TextIO) -> bool:
    """Run ``command`` inside the running server, streaming its output; False if none runs.

    Raises CommandError with the server's message when the command fails there.
    """
    connection = _connect()
    if connection is None:
        return False
    with connection:
        request = {"command": command, "args": args, "options": options, "tty": stdout.isatty()}
        connection.sendall((json.dumps(request) + "\n").encode())
        try:
            for message in _messages(connection):
                if "stream" in message:
                    target = stderr if message["stream"] == "stderr" else stdout
                    target.write(message["text"])
                    target.flush()
                elif "exit" in message:
                    if message["exit"]:
                        raise CommandError(f"(in the running server) {message.get('error', 'failed')}")
                    return True
        except KeyboardInterrupt:
            raise CommandError("interrupted: the server stops the command at its next output") from None
    raise CommandError("the running server closed the connection before the command finished; see its log")


def _raw(stream: Any) -> Any:
    """The text stream under Django's OutputWrapper (which appends newlines)."""
    return stream._out if isinstance(stream, OutputWrapper) else stream


class ServerDelegatingCommand(BaseCommand):
    """A command that opens the event store: inside a running embedded server, it runs there.

    Subclasses may override :meth:`refusal_while_serving` to refuse instead (one line).
    ``runs_in_server`` marks the commands the server accepts over the control socket.
    """

    runs_in_server = True

    def refusal_while_serving(self, options: dict[str, Any]) -> str | None:
        """A one-line reason (and what to do) when this invocation must not run beside `serve`."""
        return None

    def execute(self, *args: Any, **options: Any) -> Any:
        if args or settings.ANALYTICS_MODE != "embedded" or is_server_process() or not server_running():
            return super().execute(*args, **options)
        refusal = self.refusal_while_serving(options)
        if refusal:
            raise ServerRefused(refusal)
        name = type(self).__module__.rsplit(".", 1)[-1]
        actions = self.create_parser("manage.py", name)._actions
        positional = [str(options[action.dest]) for action in actions if not action.option_strings]
        named = {action.dest for action in actions if action.option_strings} - CLIENT_ONLY_OPTIONS
        forwarded = {key: value for key, value in options.items() if key in named}
        stdout: TextIO = _raw(options.get("stdout")) or sys.stdout
        stderr: TextIO = _raw(options.get("stderr")) or sys.stderr
        if not run_in_server(name, positional, forwarded, stdout=stdout, stderr=stderr):
            return super().execute(*args, **options)  # the server stopped in between
        return None


@contextmanager
def control_server_running() -> Iterator[ControlServer | None]:
    """The control socket for the duration of a block (what `serve` wraps its run in)."""
    server = start_control_server()
    try:
        yield server
    finally:
        stop_control_server()
