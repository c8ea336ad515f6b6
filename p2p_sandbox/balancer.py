"""N web processes behind HAProxy on one machine: the production `web` process (Procfile).

    python -m p2p_sandbox.balancer --processes 2 --port 8000

Starts one ASGI server per process on 127.0.0.1 (ports after --port), renders deploy/haproxy.cfg
with their backend list and runs HAProxy in the foreground on --port. A web process that exits
is started again; HAProxy's health checks (GET /health) take it out of and back into the
rotation. SIGTERM or SIGINT stops everything.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "haproxy.cfg"
BIN = Path(sys.executable).parent
APPLICATION = "p2p_sandbox.asgi:application"
SERVERS = ("uvicorn", "daphne")
# uvicorn (uvloop, httptools, websockets) by measurement: bench/README.md, "Server choice". It
# also streams request bodies, so the body-size limit (p2p_sandbox/body_limits.py) refuses a
# large one before it is read; Daphne reads every body whole first. Daphne stays `runserver`'s.
DEFAULT_SERVER = "uvicorn"
RESTART_DELAY_SECONDS = 1.0
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Backend:
    name: str
    port: int
    host: str = "127.0.0.1"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def backends_for(processes: int, first_port: int) -> list[Backend]:
    return [Backend(f"web{index + 1}", first_port + index) for index in range(processes)]


def render_config(
    *,
    bind: str,
    backends: Sequence[Backend],
    check_host: str,
    served_by_header: bool = False,
    stats_socket: Path | None = None,
) -> str:
    """deploy/haproxy.cfg with one `server` line per backend.

    `served_by_header` adds `X-Served-By: <backend name>` to every response (tests and
    benchmarks prove which process answered); `stats_socket` opens HAProxy's admin socket there.
    """
    if not backends:
        raise ValueError("At least one backend is needed.")
    stats = f"    stats socket {stats_socket} mode 600 level admin" if stats_socket else ""
    return Template(TEMPLATE.read_text()).substitute(
        bind=bind,
        check_host=check_host,
        servers="\n".join(f"    server {b.name} {b.address}" for b in backends),
        response_extra="    http-response set-header X-Served-By %s" if served_by_header else "",
        global_extra=stats,
    )


def web_command(server: str, port: int) -> list[str]:
    """One web process on 127.0.0.1:port, trusting the X-Forwarded-* headers HAProxy sets."""
    if server == "daphne":
        return [
            str(BIN / "daphne"),
            "--proxy-headers",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            APPLICATION,
        ]
    if server == "uvicorn":
        return [
            str(BIN / "uvicorn"),
            APPLICATION,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--proxy-headers",
            "--forwarded-allow-ips",
            "127.0.0.1",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            "websockets",
            # Channels' router knows no lifespan events; nothing here needs them.
            "--lifespan",
            "off",
            # Open sockets would hold a restart forever: after this they are closed, and the
            # pages reconnect (to another process) and resume.
            "--timeout-graceful-shutdown",
            "10",
            "--no-access-log",
        ]
    raise ValueError(f"Unknown server {server!r}; choose one of {', '.join(SERVERS)}.")


def haproxy_command(config_path: Path) -> list[str]:
    # -W: master-worker, -db: stay in the foreground (logs to stdout).
    return ["haproxy", "-W", "-db", "-f", str(config_path)]


def default_check_host() -> str:
    """The Host of the health checks: one Django accepts (ALLOWED_HOSTS), without a wildcard."""
    for host in os.environ.get("ALLOWED_HOSTS", "").split(","):
        host = host.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m p2p_sandbox.balancer", description=__doc__)
    parser.add_argument(
        "--processes",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1),
        help="web processes (default: $WEB_CONCURRENCY, else one per CPU)",
    )
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT") or 8000), help="HAProxy's port"
    )
    parser.add_argument("--host", default="0.0.0.0", help="HAProxy's address (default: all)")
    parser.add_argument(
        "--first-backend-port",
        type=int,
        default=None,
        help="the first web process's port on 127.0.0.1 (default: --port + 1)",
    )
    parser.add_argument("--server", choices=SERVERS, default=DEFAULT_SERVER)
    parser.add_argument(
        "--check-host",
        default=None,
        help="Host header of the health checks (default: the "
        "first of $ALLOWED_HOSTS, else localhost)",
    )
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    return args


class Supervisor:
    def __init__(self, args: argparse.Namespace, config_path: Path) -> None:
        first = args.first_backend_port or args.port + 1
        self.server = args.server
        self.backends = backends_for(args.processes, first)
        self.config_path = config_path
        self.web: dict[str, subprocess.Popen] = {}
        self.haproxy: subprocess.Popen | None = None
        self.stopping = False

    def start_web(self, backend: Backend) -> None:
        self.web[backend.name] = subprocess.Popen(web_command(self.server, backend.port), cwd=ROOT)

    def wait_listening(self, backend: Backend) -> None:
        """So HAProxy does not start with every process marked down (503 until two checks)."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.stopping and time.monotonic() < deadline:
            if self.web[backend.name].poll() is not None:
                return
            try:
                with socket.create_connection((backend.host, backend.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)

    def run(self) -> int:
        for backend in self.backends:
            self.start_web(backend)
        for backend in self.backends:
            self.wait_listening(backend)
        self.haproxy = subprocess.Popen(haproxy_command(self.config_path), cwd=ROOT)
        while not self.stopping:
            if self.haproxy.poll() is not None:
                print(f"balancer: haproxy exited ({self.haproxy.returncode})", file=sys.stderr)
                self.stop()
                return self.haproxy.returncode or 1
            for backend in self.backends:
                process = self.web[backend.name]
                if process.poll() is not None and not self.stopping:
                    print(
                        f"balancer: {backend.name} exited ({process.returncode}), restarting",
                        file=sys.stderr,
                    )
                    self.start_web(backend)
            time.sleep(RESTART_DELAY_SECONDS)
        return 0

    def stop(self, *_: object) -> None:
        self.stopping = True
        processes = [p for p in (self.haproxy, *self.web.values()) if p is not None]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    first = args.first_backend_port or args.port + 1
    with tempfile.TemporaryDirectory(prefix="p2p-haproxy-") as directory:
        config_path = Path(directory) / "haproxy.cfg"
        config_path.write_text(
            render_config(
                bind=f"{args.host}:{args.port}",
                backends=backends_for(args.processes, first),
                check_host=args.check_host or default_check_host(),
            )
        )
        supervisor = Supervisor(args, config_path)
        signal.signal(signal.SIGTERM, supervisor.stop)
        signal.signal(signal.SIGINT, supervisor.stop)
        status = supervisor.run()
        supervisor.stop()
        return status


if __name__ == "__main__":
    sys.exit(main())
