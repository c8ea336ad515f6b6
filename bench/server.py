"""Start a server variant pinned to one CPU, prove it answers correctly, stop it and its workers."""

import contextlib
import ctypes
import http.client
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from bench.scenarios import HOST, Scenario, Variant
from bench.workloads import RequestPlan, Workload

ROOT = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1


class ServerError(RuntimeError):
    pass


def _terminate_with_runner() -> None:
    # Runs in the child before exec: if the runner dies without stopping the server (SIGKILL),
    # the kernel sends the server SIGTERM instead of leaving it on its port.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class Server:
    def __init__(
        self, variant: Variant, *, cpu: int | str, env: dict[str, str], log_dir: Path
    ) -> None:
        self.variant = variant
        self.cpu = cpu
        self.env = env
        self.port = free_port()
        self.command = variant.command(str(self.port))
        self.log_path = log_dir / f"{variant.name}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            # taskset execs the server, so the child's pid is the server's; its own session lets
            # stop() signal the whole group (gunicorn's workers) and nothing else.
            self.process = subprocess.Popen(
                ["taskset", "--cpu-list", str(self.cpu), *self.command],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_terminate_with_runner,
            )

    def wait_ready(self, scenario: Scenario, *, timeout: float = 60.0) -> float:
        """Wait until the server answers the scenario's request, then check the answer is exactly
        the expected one. Returns the seconds it took to start."""
        assert self.process is not None
        started = time.monotonic()
        while True:
            if self.process.poll() is not None:
                raise ServerError(
                    f"{self.variant.name} exited with status {self.process.returncode} before "
                    f"answering:\n{self.log_tail()}"
                )
            try:
                status, content_type, body = self._get(scenario.path)
                break
            except (OSError, http.client.HTTPException):
                if time.monotonic() - started > timeout:
                    raise ServerError(
                        f"{self.variant.name} did not answer within {timeout:.0f} s:\n"
                        f"{self.log_tail()}"
                    ) from None
                time.sleep(0.1)
        expected = (
            scenario.expected_status,
            scenario.expected_content_type,
            scenario.expected_body,
        )
        self._compare(scenario.path, (status, content_type, body), expected)
        return time.monotonic() - started

    def check_answer(
        self, path: str, *, headers: tuple[str, ...], expected: tuple[int, str, bytes]
    ) -> None:
        """GET `path` with `headers` ("Name: value" lines, as wrk sends them) once: ServerError
        unless the status, Content-Type and body are exactly `expected`."""
        try:
            answer = self._get(path, dict(header.split(": ", 1) for header in headers))
        except (OSError, http.client.HTTPException) as error:
            raise ServerError(
                f"{self.variant.name}: GET {path} failed: {error}\n{self.log_tail()}"
            ) from error
        self._compare(path, answer, expected)

    def _compare(
        self, path: str, answer: tuple[int, str | None, bytes], expected: tuple[int, str, bytes]
    ) -> None:
        if answer != expected:
            status, content_type, body = answer
            raise ServerError(
                f"{self.variant.name} answered GET {path} with {status}, "
                f"Content-Type {content_type!r}, body {body[:300]!r}; expected "
                f"{expected[0]}, {expected[1]!r}, {expected[2][:300]!r}.\n{self.log_tail()}"
            )

    def _get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, str | None, bytes]:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=5)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type"), response.read()
        finally:
            connection.close()

    def probe(self, workload: Workload, plan: RequestPlan, number: int) -> float:
        """Send the workload's request number `number` once and check the answer is exactly the
        expected one (ServerError if not). Returns the seconds it took."""
        payload = workload.payload(number, plan)
        connection = http.client.HTTPConnection(HOST, self.port, timeout=60)
        started = time.monotonic()
        try:
            connection.request(
                workload.method,
                workload.path,
                body=workload.body(number, plan),
                headers={"Content-Type": "application/json", "Accept": "application/json"},
            )
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise ServerError(
                f"{self.variant.name}: {workload.method} {workload.path} failed: {error}\n"
                f"{self.log_tail()}"
            ) from error
        finally:
            connection.close()
        elapsed = time.monotonic() - started
        headers: dict[str, str] = {}
        for name, value in response.getheaders():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        problem = workload.check(payload, response.status, headers, body)
        if problem is not None:
            raise ServerError(
                f"{self.variant.name} answered {workload.method} {workload.path} "
                f"{json.dumps(payload)} wrongly ({problem}): {response.status}, "
                f"body {body[:300]!r}.\n{self.log_tail()}"
            )
        return elapsed

    def stop(self, *, timeout: float = 10.0) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.process.wait()
        # Workers may outlive a master that was killed: make sure the group is gone.
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        tail = text.splitlines()[-lines:]
        return "\n".join(tail) if tail else "(empty log)"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
