"""What a server uses while it is loaded: RSS and CPU time of its process tree (read from /proc)
and, with PostgreSQL, its database connections (from pg_stat_activity)."""

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after the last ")".
    return text[text.rindex(")") + 2 :].split()


def process_tree(root_pid: int) -> list[int]:
    """`root_pid` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, ()))
    return tree


def rss_kb(pid: int) -> int | None:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def tree_rss_kb(root_pid: int) -> int:
    """RSS of `root_pid` and its descendants now, in KB."""
    return sum(rss_kb(pid) or 0 for pid in process_tree(root_pid))


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by the processes still alive."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            # utime and stime are fields 14 and 15 of /proc/<pid>/stat; this list starts at 3.
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def command_line(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def core_times(cpu: int) -> tuple[float, float]:
    """(busy, steal) seconds of one CPU since boot, from /proc/stat."""
    for line in (PROC / "stat").read_text().splitlines():
        name, *values = line.split()
        if name == f"cpu{cpu}":
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, values[:8])
            return (user + nice + system + irq + softirq) / CLOCK_TICKS, steal / CLOCK_TICKS
    raise ValueError(f"no cpu{cpu} in /proc/stat")


# Kernel counters (for the whole network namespace) that show connections the server's listen
# queue refused: each dropped SYN delays that client's connect by 1 s or more, which wrk counts
# neither as an error nor in any latency.
TCP_COUNTERS = {
    "ListenOverflows": "listen_overflows",
    "TCPSynRetrans": "syn_retransmits",
    "SyncookiesSent": "syncookies_sent",
}


def tcp_counters() -> dict[str, int]:
    lines = (PROC / "net" / "netstat").read_text().splitlines()
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        if header.startswith("TcpExt:"):
            counters = dict(zip(header.split()[1:], map(int, values.split()[1:]), strict=False))
            return {name: counters.get(key, 0) for key, name in TCP_COUNTERS.items()}
    return dict.fromkeys(TCP_COUNTERS.values(), 0)


def wait_until_idle(root_pid: int, *, idle_share: float = 0.05, timeout: float = 20.0) -> float:
    """Wait until the tree uses less than `idle_share` of a core over 0.25 s (a closed-loop run
    leaves queued requests behind that the server still works through). Returns seconds waited."""
    started = time.monotonic()
    interval = 0.25
    before = cpu_seconds(process_tree(root_pid))
    while time.monotonic() - started < timeout:
        time.sleep(interval)
        after = cpu_seconds(process_tree(root_pid))
        if after - before < idle_share * interval:
            break
        before = after
    return time.monotonic() - started


class DatabaseConnectionCounter:
    """Counts the connections PostgreSQL has open under one application_name, except its own
    (client backends only: a parallel query's workers carry their leader's application_name)."""

    def __init__(self, database_url: str, application_name: str) -> None:
        import psycopg

        self.application_name = application_name
        self.connection = psycopg.connect(database_url, autocommit=True)

    def count(self) -> int:
        row = self.connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
            (self.application_name,),
        ).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.connection.close()


@dataclass
class ProcessPeak:
    pid: int
    command: str
    peak_rss_kb: int = 0


@dataclass
class Usage:
    peak_rss_total_kb: int = 0
    processes: dict[int, ProcessPeak] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    peak_db_connections: int | None = None
    samples: int = 0
    wall_seconds: float = 0.0
    # Busy share (0..1) of the server's CPU spent on anything but the server's processes: other
    # programs, and kernel network work not charged to the server. High values mean a noisy run.
    server_core_other_share: float = 0.0
    server_core_steal_share: float = 0.0
    # Busy share of the load generator's CPU; near 1 means the generator, not the server, limited.
    loadgen_core_busy_share: float = 0.0
    tcp: dict[str, int] = field(default_factory=dict)
    # With Monitor(series_interval=...): [seconds since start, RSS of the tree in KB] pairs.
    rss_series: list[tuple[float, int]] | None = None

    def as_dict(self) -> dict[str, Any]:
        series = {} if self.rss_series is None else {"rss_series": self.rss_series}
        return {
            "peak_rss_total_kb": self.peak_rss_total_kb,
            "processes": [vars(peak) for peak in self.processes.values()],
            "cpu_seconds": round(self.cpu_seconds, 3),
            "peak_db_connections": self.peak_db_connections,
            "samples": self.samples,
            "wall_seconds": round(self.wall_seconds, 3),
            "server_core_other_share": round(self.server_core_other_share, 3),
            "server_core_steal_share": round(self.server_core_steal_share, 3),
            "loadgen_core_busy_share": round(self.loadgen_core_busy_share, 3),
            "tcp": self.tcp,
            **series,
        }


class Monitor:
    """Samples the server's process tree (and database connections) in a thread between
    `start()` and `stop()`.

    The tree is re-read every sample, so gunicorn workers that are replaced are still seen.
    With `series_interval`, the tree's RSS is also kept every that many seconds (a soak's curve).
    """

    def __init__(
        self,
        root_pid: int,
        *,
        server_cpu: int,
        loadgen_cpu: int,
        interval: float = 0.1,
        database: DatabaseConnectionCounter | None = None,
        series_interval: float | None = None,
    ) -> None:
        self.root_pid = root_pid
        self.server_cpu = server_cpu
        self.loadgen_cpu = loadgen_cpu
        self.interval = interval
        self.database = database
        self.usage = Usage(
            peak_db_connections=0 if database else None,
            rss_series=None if series_interval is None else [],
        )
        self.series_interval = series_interval
        self._next_point = 0.0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self._before = self._counters()
        self._tcp_before = tcp_counters()

    def _counters(self) -> tuple[float, float, float, float, float]:
        busy, steal = core_times(self.server_cpu)
        loadgen_busy, _ = core_times(self.loadgen_cpu)
        server = cpu_seconds(process_tree(self.root_pid))
        return time.monotonic(), server, busy, steal, loadgen_busy

    def start(self) -> None:
        self._tcp_before = tcp_counters()
        self._before = self._counters()
        self._sample()
        self._thread.start()

    def stop(self) -> Usage:
        self._stopping.set()
        self._thread.join()
        self._sample()
        after = self._counters()
        tcp_after = tcp_counters()
        wall, server, busy, steal, loadgen_busy = (
            end - start for start, end in zip(self._before, after, strict=True)
        )
        usage = self.usage
        usage.wall_seconds = wall
        usage.cpu_seconds = server
        usage.tcp = {name: tcp_after[name] - self._tcp_before[name] for name in tcp_after}
        if wall > 0:
            usage.server_core_other_share = max(0.0, busy - server) / wall
            usage.server_core_steal_share = steal / wall
            usage.loadgen_core_busy_share = loadgen_busy / wall
        return usage

    def _sample_until_stopped(self) -> None:
        while not self._stopping.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        usage = self.usage
        total = 0
        for pid in process_tree(self.root_pid):
            rss = rss_kb(pid)
            if rss is None:
                continue
            total += rss
            peak = usage.processes.get(pid)
            if peak is None:
                peak = usage.processes[pid] = ProcessPeak(pid, command_line(pid))
            peak.peak_rss_kb = max(peak.peak_rss_kb, rss)
        usage.peak_rss_total_kb = max(usage.peak_rss_total_kb, total)
        if usage.rss_series is not None and self.series_interval is not None:
            elapsed = time.monotonic() - self._before[0]
            if elapsed >= self._next_point:
                usage.rss_series.append((round(elapsed, 2), total))
                self._next_point = elapsed + self.series_interval
        if self.database is not None and usage.peak_db_connections is not None:
            usage.peak_db_connections = max(usage.peak_db_connections, self.database.count())
        usage.samples += 1
