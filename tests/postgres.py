"""A real PostgreSQL server for the tests: Debian's binaries, a private cluster per session.

``initdb`` into a fresh folder, ``pg_ctl start`` on a free loopback port (no Unix socket),
password authentication, durability off (a test cluster need not survive a power cut).
PostgreSQL refuses to run as root, so under root the cluster belongs to an unprivileged
user (``nobody``) and every server command runs through ``runuser``.

Where the binaries are missing, :func:`find_bindir` returns None and the PostgreSQL
parameters skip, unless ``CART_REQUIRE_POSTGRES=1`` (CI), where they fail.
"""

from __future__ import annotations

import itertools
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import free_port

__all__ = ["PostgresServer", "find_bindir", "postgres_required"]

SUPERUSER = "cart"
UNPRIVILEGED = "nobody"
INSTALL_HINT = (
    "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
    "`apt-get install postgresql` to run the store, service and SIC tests on it too"
)
# speed over durability: a crashed test cluster is simply thrown away
SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 32MB
log_min_messages = warning
"""


def postgres_required() -> bool:
    return os.environ.get("CART_REQUIRE_POSTGRES", "") not in ("", "0")


def find_bindir() -> Path | None:
    """The newest Debian PostgreSQL bin folder, or pg_config's, or None."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        bindir = Path(out.stdout.strip())
        if (bindir / "initdb").exists():
            return bindir
    return None


@dataclass
class PostgresServer:
    bindir: Path
    folder: Path
    port: int
    password: str
    run_as: str | None
    _names: itertools.count[int]

    @classmethod
    def start(cls, bindir: Path) -> PostgresServer:
        run_as = UNPRIVILEGED if os.geteuid() == 0 else None
        # not pytest's tmp_path: its base folder is private to root (0700), and the
        # unprivileged server must be able to reach its own data directory
        folder = Path(tempfile.mkdtemp(prefix="cart-pg-"))
        server = cls(bindir, folder, free_port(), secrets.token_hex(16), run_as, itertools.count())
        try:
            server._init_and_start()
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self.run_as is not None:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=self.folder)
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()}\n{tail}"
            )

    def _init_and_start(self) -> None:
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        pwfile.chmod(0o600)
        if self.run_as is not None:
            user = pwd.getpwnam(self.run_as)
            self.folder.chmod(0o700)
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        self._run(
            str(self.bindir / "initdb"),
            "--pgdata",
            str(self.data),
            "--username",
            SUPERUSER,
            "--pwfile",
            str(pwfile),
            "--auth",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
        )
        pwfile.unlink()
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(SETTINGS.format(port=self.port))
        self._run(
            str(self.bindir / "pg_ctl"),
            "--pgdata",
            str(self.data),
            "--log",
            str(self.folder / "server.log"),
            "--wait",
            "--timeout",
            "60",
            "start",
        )

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(
                    str(self.bindir / "pg_ctl"),
                    "--pgdata",
                    str(self.data),
                    "--mode",
                    "immediate",
                    "--wait",
                    "stop",
                )
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            password=self.password,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(sql)  # type: ignore[arg-type]  # names made here, never user input

    def create_database(self) -> str:
        """A new empty database; its name."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self._admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        # FORCE: a test that forgot to dispose its engine must not keep the next one waiting
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
