"""What the runner does before starting servers: the benchmark's own database (a fresh SQLite
file, or a dedicated PostgreSQL database `p2p_bench`, dropped and created), migrated and seeded,
so a run never writes to anyone's data and always starts from the same state; and the timing of
the password hasher (bench/hasher.py) on the server's CPU."""

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.server import ROOT

POSTGRES_DATABASE = "p2p_bench"
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
RESULT_PREFIX = "BENCH_RESULT "


class DatabaseError(RuntimeError):
    pass


def sqlite_url(directory: Path) -> str:
    # Four slashes: sqlite:/// and an absolute path.
    return f"sqlite:///{directory.resolve() / 'bench.sqlite3'}"


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def recreate_postgres(admin_url: str, name: str = POSTGRES_DATABASE) -> str:
    """Drop and create `name` (connected to the database of `admin_url`); returns its URL."""
    import psycopg

    try:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            # FORCE ends the sessions of an earlier run that was killed (PostgreSQL 13+).
            connection.execute(f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)")
            connection.execute(f"CREATE DATABASE {_quoted(name)}")
    except psycopg.Error as error:
        raise DatabaseError(f"cannot recreate PostgreSQL database {name!r}: {error}") from error
    return _with_database(admin_url, name)


def drop_postgres(admin_url: str, name: str = POSTGRES_DATABASE) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)")


def _run(command: list[str], env: dict[str, str], log_path: Path, what: str) -> str:
    with log_path.open("ab") as log:
        log.write(f"$ {' '.join(command)}\n".encode())
        log.flush()
        completed = subprocess.run(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, check=False
        )
        log.write(completed.stdout)
    if completed.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-30:]
        raise DatabaseError(f"{what} failed ({completed.returncode}):\n" + "\n".join(tail))
    return completed.stdout.decode(errors="replace")


def migrate(env: dict[str, str], log_path: Path) -> None:
    _run(
        [sys.executable, "manage.py", "migrate", "--no-input", "--verbosity", "1"],
        env,
        log_path,
        "manage.py migrate",
    )


def _result(output: str, what: str) -> dict[str, object]:
    lines = [line for line in output.splitlines() if line.startswith(RESULT_PREFIX)]
    if not lines:
        raise DatabaseError(f"{what} printed no result")
    return json.loads(lines[-1].removeprefix(RESULT_PREFIX))


def seed_login_users(env: dict[str, str], log_path: Path, users: int) -> dict[str, object]:
    command = [sys.executable, "-m", "bench.seed", f"--users={users}"]
    return _result(_run(command, env, log_path, "bench.seed"), "bench.seed")


def seed_reader(env: dict[str, str], log_path: Path, credentials_file: Path) -> dict[str, object]:
    """authread's user, session and token; what the servers need goes to `credentials_file`."""
    command = [
        sys.executable,
        "-m",
        "bench.seed",
        "--reader",
        f"--sessions-file={credentials_file}",
    ]
    return _result(_run(command, env, log_path, "bench.seed --reader"), "bench.seed --reader")


def measure_hasher(
    env: dict[str, str], log_path: Path, *, cpu: int, repeat: int
) -> dict[str, object]:
    command = [
        "taskset",
        "--cpu-list",
        str(cpu),
        sys.executable,
        "-m",
        "bench.hasher",
        f"--repeat={repeat}",
    ]
    return _result(_run(command, env, log_path, "bench.hasher"), "bench.hasher")
