"""What the PostgreSQL and MariaDB throwaway servers have in common.

Lifecycle of one server (see ``ThrowawayServer``):

    server = PostgresServer()   # nothing happens yet
    server.start()              # make a private dir under /tmp, init a data dir, start, wait until it answers
    server.stop()               # stop the process, keep the data dir and port (a soak test can ``start()`` again)
    server.close()              # stop and delete everything; also registered with ``atexit``

Why our own harness and not pytest-postgresql / pytest-mysql: this suite runs as root in CI. ``initdb`` and
``postgres`` refuse to run as root, and the plugins call them as the current user, so they fail there unless wrapped;
pytest-mysql drives ``mysqld`` with a config tuned for MySQL and needs its own fixtures per process. What we need is
small (init a data dir, start on a free loopback port, create and drop databases, stop, restart) and fits in a few
hundred lines we can read, so we own it.

Traps handled here:
- **root**: PostgreSQL runs as an unprivileged system user (``smsetl-test``, created with ``useradd --system`` when
  absent and we are root). ``subprocess`` switches user in the child (``user=``/``group=``/``extra_groups=``), which
  is what ``runuser -u smsetl-test --`` does, minus the PAM session and the extra process in between. MariaDB is
  happy as root given ``--user=root``.
- **orphans**: servers are started in their own session (Ctrl-C in the terminal does not hit them first) and, when
  started from the main thread, with ``PR_SET_PDEATHSIG`` so that they die if pytest is SIGKILLed. Each private dir
  records the owner pid; ``reap_stale()`` stops and removes dirs whose owner is gone (after a crash).
- **speed**: private dirs go to /dev/shm when it has room (``scratch_roots``), since durability is off anyway;
  ``SMSETL_TEST_TMPDIR`` overrides.
- **the system's own server**: never touched. Data dir, socket, pid file and logs all live in the private dir, and
  every ``--no-defaults``-style flag keeps /etc/mysql, /var/lib/mysql, /run/mysqld and /var/run/postgresql out of
  it.
"""

from __future__ import annotations

import atexit
import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

TMP_PREFIX = "smsetl-test-"
UNPRIVILEGED_USER = "smsetl-test"
_PR_SET_PDEATHSIG = 1


class ServerUnavailable(RuntimeError):
    """No server could be started here; the message is the reason shown in the skip (or CI failure)."""


def free_port() -> int:
    """A loopback port that was free a moment ago (the caller retries if it is taken before the server binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_root() -> bool:
    return os.geteuid() == 0


def ensure_unprivileged_user(name: str = UNPRIVILEGED_USER) -> pwd.struct_passwd:
    """The system user PostgreSQL runs as when we are root; created when absent (``make deps-test`` does it too)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or shutil.which("useradd", path="/usr/sbin:/sbin")
    if useradd is None:
        raise ServerUnavailable(f"user {name!r} is absent and useradd is not available to create it")
    proc = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise ServerUnavailable(f"cannot create user {name!r}: {proc.stderr.strip()}") from None


def _die_with_parent() -> None:
    """``preexec_fn``: ask the kernel to SIGTERM the child when the thread that started it exits.

    Runs after ``subprocess`` switched user, so the setting survives (it is cleared on credential changes).
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: rely on atexit and reap_stale()
        pass


def popen_kwargs(run_as: pwd.struct_passwd | None) -> dict[str, object]:
    """Keyword arguments for ``subprocess`` so the child runs as ``run_as`` (None: as ourselves), detached."""
    kwargs: dict[str, object] = {"start_new_session": True}
    if threading.current_thread() is threading.main_thread():
        # PDEATHSIG fires when the *thread* that forked exits, so only use it from the main thread.
        kwargs["preexec_fn"] = _die_with_parent
    if run_as is not None:
        kwargs.update(user=run_as.pw_uid, group=run_as.pw_gid, extra_groups=[])
    return kwargs


SHM = "/dev/shm"
SHM_MIN_FREE = 2 * 1024**3


def scratch_roots() -> list[str]:
    """Where private dirs may live: $SMSETL_TEST_TMPDIR, else /dev/shm (when usable), then the usual temp dir."""
    explicit = os.environ.get("SMSETL_TEST_TMPDIR")
    if explicit:
        return [explicit]
    roots = []
    try:
        st = os.statvfs(SHM)
        if st.f_bavail * st.f_frsize >= SHM_MIN_FREE and os.access(SHM, os.W_OK | os.X_OK):
            roots.append(SHM)
    except OSError:
        pass
    return [*roots, tempfile.gettempdir()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale() -> None:
    """Stop servers and remove private dirs left by test sessions that died without cleaning up."""
    owner_files = [f for root in scratch_roots() for f in glob.glob(os.path.join(root, TMP_PREFIX + "*", "owner.pid"))]
    for owner_file in owner_files:
        base = Path(owner_file).parent
        try:
            owner = int(Path(owner_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if _pid_alive(owner):
            continue
        for pid_file in ("server.pid",):
            try:
                server_pid = int((base / pid_file).read_text().strip())
                os.killpg(server_pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass
        shutil.rmtree(base, ignore_errors=True)


def wait_until(ready: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    """Poll ``ready()`` until it is true; raise ServerUnavailable with the log tail if the process dies or times out."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise ServerUnavailable(f"server exited with status {proc.returncode}; log tail:\n{tail(log)}")
        if ready():
            return
        if time.monotonic() > deadline:
            raise ServerUnavailable(f"server not ready after {timeout:.0f}s; log tail:\n{tail(log)}")
        time.sleep(0.05)


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ThrowawayServer:
    """One database server in a private temp dir. Subclasses fill in ``_init_datadir``, ``_command``, ``_ping``."""

    kind = "server"
    ready_timeout = 60.0

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.base: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None  # of the first start, init included; reported by the fixtures
        self._run_as: pwd.struct_passwd | None = None
        self._closed = False
        self.durable = False  # subclasses: True keeps the server's own flushing, and its files on disk

    # --- to implement -------------------------------------------------------------------------------------------
    def _check_binaries(self) -> None:
        raise NotImplementedError

    def _init_datadir(self) -> None:
        raise NotImplementedError

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ping(self) -> bool:
        raise NotImplementedError

    # --- lifecycle ----------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start the server (the first call also creates and initialises the data dir). Idempotent."""
        if self._closed:
            raise RuntimeError(f"{self.kind} server was closed")
        if self.running:
            return
        t0 = time.monotonic()
        first = self.base is None
        if first:
            self._check_binaries()
            reap_stale()
            worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
            # tmpfs when we may (durability is off anyway): MariaDB DDL fsyncs every file it touches, and on a disk
            # that made `alembic upgrade` take 2.5 s per test instead of 0.25 s, and the server start 5 s instead
            # of 1 s. A durable server (benchmarks) stays on disk.
            roots = scratch_roots()
            root = roots[-1] if self.durable else roots[0]
            self.base = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{self.kind}-{worker}-", dir=root))
            (self.base / "owner.pid").write_text(str(os.getpid()))
            atexit.register(self.close)
            if self._run_as is not None:
                os.chown(self.base, self._run_as.pw_uid, self._run_as.pw_gid)
            self._init_datadir()
        # A free port can be taken between our probe and the server's bind: retry with another one, but on a
        # restart keep the port, since clients (and the URLs handed out) point at it.
        attempts = 3 if first else 1
        for attempt in range(attempts):
            if first:
                self.port = free_port()
            try:
                self._spawn()
                break
            except ServerUnavailable:
                if attempt == attempts - 1:
                    raise
        if first:
            self.startup_seconds = time.monotonic() - t0

    def _spawn(self) -> None:
        assert self.base is not None
        log = self.base / "server.log"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.base,
                **popen_kwargs(self._run_as),  # type: ignore[arg-type]
            )
        (self.base / "server.pid").write_text(str(self.proc.pid))
        try:
            wait_until(self._ping, self.proc, self.ready_timeout, log)
        except ServerUnavailable:
            self._terminate(grace=5.0)
            raise

    def stop(self) -> None:
        """Stop the server cleanly (clients are disconnected); data dir and port are kept for ``start()``."""
        self._terminate(grace=30.0)

    def _terminate(self, grace: float) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(self._stop_signal)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    _stop_signal = signal.SIGTERM

    def close(self) -> None:
        """Stop (fast) and remove the private dir. Safe to call twice; registered with ``atexit``."""
        if self._closed:
            return
        self._closed = True
        try:
            self._terminate(grace=10.0)
        finally:
            if self.base is not None:
                shutil.rmtree(self.base, ignore_errors=True)
