"""The `forum_viewers` scenario: 1000 WebSocket viewers of one topic on one server (see
bench/README.md).

    REDIS_URL=redis://127.0.0.1:6379/5 python -m bench.run --scenario forum_viewers
    python -m bench.forum bench/results/forum_viewers.json   # print a results file's table again

Run by bench/run.py through bench/messaging.py's flow for scenarios of sockets. Before the
repetitions: a database of the run's own (PostgreSQL by default), migrated, and
`python -m bench.seed --forum-users N` (verified users, one topic). For each repetition, for
each variant in turn (A B A B ...), a fresh server pinned to the server CPU, checked on GET
/health, then:

1. fresh sessions for every viewer (`bench.seed --forum-sessions`: no session has been idle for
   long when its socket opens), the server's RSS at rest;
2. the ramp: the generator (bench/forumload.py, pinned to the other CPU) opens every viewer's
   socket, a few handshakes at a time, and waits for the presence broadcasts to stop; the server
   is then left to go idle, and its RSS is read again (the growth is the sockets' cost);
3. one probe post, checked field by field at every viewer; a warm-up at the lowest rate;
4. each rate in ascending order: numbered posts at that rate, every arrival timed at every
   viewer, while bench/monitor.py samples the server's memory, CPU and database connections;
5. the hold (`--hold-seconds`): the sockets stay open while a post comes every
   1 / `--hold-rate` seconds and the server's RSS is recorded every second: drops, and whether
   memory grows;
6. the sockets are closed, the server stopped.
"""

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench import prepare
from bench.loadgen import latency_summary
from bench.messaging import (
    Generator,
    ServiceCpu,
    SocketScenario,
    checked_probe,
    drain_limit,
    late_frames,
    latencies_and_losses,
    measured_call,
    median,
    paired_ratios,
    per_message,
    print_tables,
    ratio_lines,
    run_command,
    run_socket_scenario,
    usage_columns,
    usage_summary,
    variant_rows,
    warm_up_and_load,
)
from bench.monitor import DatabaseConnectionCounter, Monitor, tree_rss_kb, wait_until_idle
from bench.report import format_count, format_number, format_percent
from bench.scenarios import Load, Scenario
from bench.server import Server, ServerError

DEFAULT_HOLD_S = 30
DEFAULT_HOLD_RATE = 0.1
DEFAULT_CONNECT_CONCURRENCY = 10
# The ramp has ended when no presence frame has come for this long (the project broadcasts a
# topic's presence at most once a second per process).
SETTLE_QUIET_S = 3.0
SETTLE_LIMIT_S = 300.0
# The RSS curve of the hold: a point a second; its growth compares the mean of the last tenth
# with the mean of the first.
HOLD_SERIES_INTERVAL_S = 1.0
HOLD_WINDOW_SHARE = 0.1

# BENCHMARKS.md: 1000 WebSocket viewers of one topic.
TARGET_VIEWERS = 1000
TARGET_HOLD_S = 600
TARGET_HANDSHAKE_P99_MS = 500.0
TARGET_FANOUT_P99_MS = 1000.0
TARGET_SOCKETS_RSS_MB = 150.0
# "No growth over a 10-minute soak": less than this between the hold's first and last tenth
# (allocator noise is a few MB).
TARGET_SOAK_GROWTH_MB = 10.0
JUDGED_VARIANT = "project-socket"


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def hold_seconds(args: argparse.Namespace) -> int:
    return DEFAULT_HOLD_S if args.hold_seconds is None else args.hold_seconds


def hold_rate(args: argparse.Namespace) -> float:
    return DEFAULT_HOLD_RATE if args.hold_rate is None else args.hold_rate


def connect_concurrency(args: argparse.Namespace) -> int:
    return args.connect_concurrency or DEFAULT_CONNECT_CONCURRENCY


def check_arguments(scenario: Scenario, args: argparse.Namespace) -> str | None:
    if args.users < 2:
        return f"{scenario.name} needs --users of at least 2 (the topic's author and the poster)"
    return None


def seed_viewers(
    env: dict[str, str], log_dir: Path, args: argparse.Namespace
) -> tuple[dict[str, Any], Path, str]:
    command = [sys.executable, "-m", "bench.seed", f"--forum-users={args.users}"]
    output = prepare._run(command, env, log_dir / "prepare.log", "bench.seed")
    data = prepare._result(output, "bench.seed")
    return data, log_dir / "sessions.json", f"{data['users']} users and topic {data['topic_id']}"


def fresh_sessions(env: dict[str, str], log_dir: Path, sessions: Path) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.seed",
        "--forum-sessions",
        f"--sessions-file={sessions}",
    ]
    # The servers' environment: SECRET_KEY signs the sessions.
    output = prepare._run(command, env, log_dir / "prepare.log", "bench.seed --forum-sessions")
    return prepare._result(output, "bench.seed --forum-sessions")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _mb(kb: float | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


def soak_growth(series: list[tuple[float, int]]) -> dict[str, float | None]:
    """The RSS curve of a hold: MB at its start and end (means of the first and last tenth of
    the points), the growth between them, and the least-squares slope in MB per minute."""
    if len(series) < 2:
        return {"start_mb": None, "end_mb": None, "growth_mb": None, "slope_mb_per_min": None}
    window = max(1, round(len(series) * HOLD_WINDOW_SHARE))
    start = sum(kb for _, kb in series[:window]) / window / 1024
    end = sum(kb for _, kb in series[-window:]) / window / 1024
    times = [seconds for seconds, _ in series]
    sizes = [kb / 1024 for _, kb in series]
    mean_t, mean_s = sum(times) / len(times), sum(sizes) / len(sizes)
    spread = sum((t - mean_t) ** 2 for t in times)
    slope = (
        sum((t - mean_t) * (s - mean_s) for t, s in zip(times, sizes, strict=True)) / spread
        if spread
        else 0.0
    )
    return {
        "start_mb": round(start, 1),
        "end_mb": round(end, 1),
        "growth_mb": round(end - start, 1),
        "slope_mb_per_min": round(slope * 60, 2),
    }


def _ramp(
    generator: Generator,
    server: Server,
    args: argparse.Namespace,
    counter: DatabaseConnectionCounter | None,
) -> dict[str, Any]:
    """Open every viewer's socket and wait for the presence broadcasts to end and the server to
    go idle; its RSS before and after."""
    wait_until_idle(server.pid, timeout=20.0)
    rss_before = tree_rss_kb(server.pid)
    monitor = Monitor(
        server.pid, server_cpu=args.server_cpu, loadgen_cpu=args.loadgen_cpu, database=counter
    )
    monitor.start()
    try:
        connected = generator.call(
            {
                "cmd": "connect",
                "timeout": args.timeout,
                "concurrency": connect_concurrency(args),
            },
            wait_s=60 + args.users * args.timeout / connect_concurrency(args),
        )
        settled = generator.call(
            {"cmd": "settle", "quiet": SETTLE_QUIET_S, "limit": SETTLE_LIMIT_S},
            wait_s=SETTLE_LIMIT_S + 60,
        )
        idle_s = wait_until_idle(server.pid, timeout=60.0)
    finally:
        usage = monitor.stop()
    rss_after = tree_rss_kb(server.pid)
    return {
        "connect": connected,
        "settle": settled,
        "idle_wait_s": round(idle_s, 2),
        "server": usage.as_dict(),
        "rss_before_kb": rss_before,
        "rss_after_kb": rss_after,
        "sockets_rss_growth_mb": _mb(rss_after - rss_before),
        "kb_per_socket": round((rss_after - rss_before) / connected["connected"], 1)
        if connected["connected"]
        else None,
    }


def run_variant(
    scenario: Scenario,
    server: Server,
    loads: list[Load],
    args: argparse.Namespace,
    repetition: int,
    sessions: Path,
    counter: DatabaseConnectionCounter | None,
    services: ServiceCpu,
    log_dir: Path,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One server start: sessions, ramp, probe, warm-up, every rate, the hold. Returns (the
    start, the runs)."""
    variant = server.variant
    assert variant.mode is not None
    start_s = server.wait_ready(scenario)
    # The project's settings, whatever the variant's (the echo's have no apps).
    seed_env = {key: value for key, value in server.env.items() if key != "DJANGO_SETTINGS_MODULE"}
    session_seed = fresh_sessions(seed_env, log_dir, sessions)
    generator = Generator.start("bench.forumload", server, sessions, args, log_dir)
    hold = None
    try:
        ramp = _ramp(generator, server, args, counter)
        connected, settled = ramp["connect"], ramp["settle"]
        if connected["connected"] == 0:
            raise ServerError(
                f"{variant.name}: no viewer's socket opened: {connected['errors']}\n"
                f"{server.log_tail()}"
            )
        _progress(
            f"  rep {repetition} {variant.name:<16} {connected['connected']}/{args.users} "
            f"sockets open in {connected['seconds']:.1f} s (handshake p99 "
            f"{_ms(connected['handshake_ms']['p99'])}); "
            + (
                f"presence frames {settled['presence_frames']}, the last "
                f"{settled['last_presence_s']} s after the first connect"
                if settled["presence_frames"]
                else "no presence frames"
            )
            + f"; RSS {ramp['rss_before_kb'] / 1024:.0f} -> "
            f"{ramp['rss_after_kb'] / 1024:.0f} MB"
        )
        probe = checked_probe(generator, server, args, "post")
        _progress(
            f"  rep {repetition} {variant.name:<16} probe post reached all "
            f"{probe['viewers_expected']} viewers in {probe['fanout_ms'][0]:.1f} ms"
        )

        def on_run(run: dict[str, Any]) -> None:
            result = run["result"]
            _progress(
                f"  rep {repetition} {variant.name:<16} rate {run['load']['rate']:g}/s  "
                f"{result['scheduled']} posts x {result['viewers_expected']} viewers  fan-out "
                + latencies_and_losses(run, result["fanout_latency_ms"])
            )

        warmup, runs = warm_up_and_load(
            generator,
            server,
            loads,
            args,
            repetition,
            counter,
            services,
            warmup_keys=("rate", "scheduled", "lost", "duplicated", "errors"),
            on_run=on_run,
        )
        if hold_seconds(args):
            record = measured_call(
                generator,
                server,
                run_command(hold_rate(args), hold_seconds(args), args, hold=True),
                args,
                counter,
                services,
                series_interval=HOLD_SERIES_INTERVAL_S,
            )
            hold = {**record, "rss": soak_growth(record["server"].get("rss_series") or [])}
            result = record["result"]
            _progress(
                f"  rep {repetition} {variant.name:<16} hold {hold_seconds(args)} s: "
                f"{result['viewers_open_at_end']}/{result['viewers_expected']} sockets still "
                f"open, {result['scheduled']} posts, lost {result['lost']}; RSS "
                f"{hold['rss']['start_mb']} -> {hold['rss']['end_mb']} MB"
            )
        closed = generator.call({"cmd": "close"}, wait_s=120)
    finally:
        generator.stop()
    start = {
        "repetition": repetition,
        "variant": variant.name,
        "server_command": server.command,
        "server_start_s": round(start_s, 2),
        "sessions": session_seed,
        "ramp": ramp,
        "probe": {
            "fanout_ms": probe["fanout_ms"][0],
            "post_ids": probe["post_ids"],
            "frames": probe.get("frames_seen"),
        },
        "warmup": warmup,
        "hold": hold,
        "close": closed,
        "token": connected.get("token"),
    }
    return start, runs


def _run_metrics(run: dict[str, Any]) -> dict[str, float | None]:
    result = run["result"]
    posts = result["scheduled"]
    services = run["services"]
    return {
        "p50": result["fanout_latency_ms"]["p50"],
        "p99": result["fanout_latency_ms"]["p99"],
        "cpu_ms_per_post": per_message(run["server"]["cpu_seconds"], posts),
        "redis_cpu_ms_per_post": per_message(services["redis_cpu_seconds"], posts),
        "postgres_cpu_ms_per_post": per_message(services["postgres_backend_cpu_seconds"], posts),
        # Server CPU per frame sent to a viewer (post_created), in microseconds.
        "cpu_us_per_delivery": per_message(
            run["server"]["cpu_seconds"] * 1000, result["pairs_delivered"]
        ),
    }


RATIO_METRICS = ("p50", "p99", "cpu_ms_per_post")


def _drops(errors: dict[str, int]) -> int:
    return sum(count for kind, count in errors.items() if kind.startswith("closed_"))


def _outcomes(results: list[dict[str, Any]], late: int) -> dict[str, Any]:
    """What a set of runs delivered: totals over them, and the latencies of all their posts
    and deliveries together."""
    errors: Counter[str] = Counter()
    for result in results:
        errors.update(result["errors"])

    def total(key: str) -> int:
        return sum(result[key] for result in results)

    return {
        "repetitions": len(results),
        "posts_total": total("scheduled"),
        "pairs_expected_total": total("pairs_expected"),
        "pairs_delivered_total": total("pairs_delivered"),
        "lost_total": total("lost"),
        "posts_incomplete_total": total("posts_incomplete"),
        "posts_unseen_total": total("posts_unseen"),
        "refused_total": total("refused"),
        "duplicated_total": total("duplicated"),
        "reordered_total": total("reordered"),
        "late_frames_total": late,
        "drops_total": _drops(dict(errors)),
        "viewers_open_at_end_min": min(result["viewers_open_at_end"] for result in results),
        "errors_total": dict(sorted(errors.items())),
        "stops": dict(Counter(result["stop"] for result in results)),
        "fanout_ms": {
            key: median(result["fanout_latency_ms"][key] for result in results)
            for key in ("p50", "p90", "p99", "max")
        },
        "fanout_ms_pooled": latency_summary(
            [value for result in results for value in result["fanout_ms"]]
        ),
        "first_ms": {
            key: median(result["first_latency_ms"][key] for result in results)
            for key in ("p50", "p99")
        },
        "delivery_ms": {
            key: median(result["delivery_latency_ms"][key] for result in results)
            for key in ("p50", "p99", "max")
        },
        "ack_ms": {
            key: median(result["ack_latency_ms"][key] for result in results)
            for key in ("p50", "p99")
        },
    }


def summarize(
    scenario: Scenario,
    starts: list[dict[str, Any]],
    runs: list[dict[str, Any]],
    variants: list[str],
    loads: list[Load],
) -> dict[str, Any]:
    # Late frames are reported by the generator's next answer: a later run, the hold or close.
    holds = [{"result": start["hold"]["result"]} for start in starts if start["hold"] is not None]
    answers = runs + holds
    ramps: dict[str, Any] = {}
    hold_rows: dict[str, Any] = {}
    for name in variants:
        these = [start for start in starts if start["variant"] == name]
        if not these:
            continue
        errors: Counter[str] = Counter()
        for start in these:
            errors.update(start["ramp"]["connect"]["errors"])
            errors.update(start["ramp"]["settle"]["errors"])
        ramp = [start["ramp"] for start in these]
        ramps[name] = {
            "server_starts": len(these),
            "viewers": these[0]["ramp"]["connect"]["viewers"],
            "connected_min": min(item["connect"]["connected"] for item in ramp),
            "connect_seconds": median(item["connect"]["seconds"] for item in ramp),
            **{
                f"handshake_{key}": median(item["connect"]["handshake_ms"][key] for item in ramp)
                for key in ("p50", "p99", "max")
            },
            "presence_frames": median(item["settle"]["presence_frames"] for item in ramp),
            "last_presence_s": median(item["settle"]["last_presence_s"] for item in ramp),
            "shown_all_min": min(
                (
                    item["settle"]["shown_all"]
                    for item in ramp
                    if item["settle"]["shown_all"] is not None
                ),
                default=None,
            ),
            "ramp_cpu_seconds": median(item["server"]["cpu_seconds"] for item in ramp),
            "rss_before_mb": median(_mb(item["rss_before_kb"]) for item in ramp),
            "rss_after_mb": median(_mb(item["rss_after_kb"]) for item in ramp),
            "sockets_rss_growth_mb": median(item["sockets_rss_growth_mb"] for item in ramp),
            "kb_per_socket": median(item["kb_per_socket"] for item in ramp),
            "errors_total": dict(sorted(errors.items())),
        }
        held = [start["hold"] for start in these if start["hold"] is not None]
        if held:
            hold_rows[name] = {
                **_outcomes(
                    [item["result"] for item in held],
                    sum(late_frames(starts, answers, item) for item in held),
                ),
                "seconds": held[0]["result"]["elapsed_s"],
                **{
                    key: median(item["rss"][key] for item in held)
                    for key in ("start_mb", "end_mb", "growth_mb", "slope_mb_per_min")
                },
                "growth_mb_max": max(
                    (
                        item["rss"]["growth_mb"]
                        for item in held
                        if item["rss"]["growth_mb"] is not None
                    ),
                    default=None,
                ),
                **usage_summary(held),
            }
    blocks = []
    for load in loads:
        load_runs = [run for run in runs if run["load"] == load.as_dict()]
        by_variant: dict[str, dict[str, Any]] = {}
        for name in variants:
            these = [run for run in load_runs if run["variant"] == name]
            if not these:
                continue
            metrics = [_run_metrics(run) for run in these]
            by_variant[name] = {
                **_outcomes(
                    [run["result"] for run in these],
                    sum(late_frames(starts, answers, run) for run in these),
                ),
                **{
                    key: median(metric[key] for metric in metrics)
                    for key in (
                        "cpu_ms_per_post",
                        "redis_cpu_ms_per_post",
                        "postgres_cpu_ms_per_post",
                        "cpu_us_per_delivery",
                    )
                },
                **usage_summary(these),
            }
        ratios = paired_ratios(scenario, load_runs, set(by_variant), _run_metrics, RATIO_METRICS)
        blocks.append({"load": load.as_dict(), "variants": by_variant, "ratios": ratios})
    return {"ramp": ramps, "loads": blocks, "hold": hold_rows}


def _verdict(met: bool, short: bool) -> str:
    if not met:
        return "NOT met"
    return "met at this scale only" if short else "met"


def judge(
    scenario: Scenario, summary: dict[str, Any], settings: dict[str, Any]
) -> list[dict[str, Any]]:
    """The targets of BENCHMARKS.md for the project's socket variant. A target met by a run
    smaller than the target's (fewer viewers, a shorter hold) says so."""
    ramp = summary["ramp"].get(JUDGED_VARIANT)
    if ramp is None:
        return []
    viewers = settings["viewers"]
    hold_s = settings["hold_s"]
    few = viewers < TARGET_VIEWERS
    hold = summary["hold"].get(JUDGED_VARIANT)
    rows = [block["variants"][JUDGED_VARIANT] for block in summary["loads"]]
    rows = [row for row in rows if row] + ([hold] if hold else [])
    drops = sum(row["drops_total"] for row in rows) + _drops(ramp["errors_total"])
    verdicts = []
    if hold:
        verdicts.append(
            {
                "label": f"all {viewers} held {hold_s} s with no drop (target: "
                f"{TARGET_VIEWERS} for {TARGET_HOLD_S} s)",
                "value": f"fewest open {ramp['connected_min']} after the ramp, "
                f"{hold['viewers_open_at_end_min']} after the hold; {drops} dropped",
                "verdict": _verdict(
                    ramp["connected_min"] == viewers
                    and hold["viewers_open_at_end_min"] == viewers
                    and drops == 0,
                    few or hold_s < TARGET_HOLD_S,
                ),
            }
        )
    verdicts.append(
        {
            "label": f"handshake p99 < {TARGET_HANDSHAKE_P99_MS:.0f} ms",
            "value": f"{format_number(ramp['handshake_p99'], width=1)} ms (median of the starts)",
            "verdict": _verdict(
                ramp["handshake_p99"] is not None
                and ramp["handshake_p99"] < TARGET_HANDSHAKE_P99_MS,
                few,
            ),
        }
    )
    for block in summary["loads"]:
        row = block["variants"].get(JUDGED_VARIANT)
        if row is None:
            continue
        p99 = row["fanout_ms"]["p99"]
        verdicts.append(
            {
                "label": f"one post reaches all viewers with p99 < {TARGET_FANOUT_P99_MS:.0f} ms "
                f"at {block['load']['rate']:g} posts/s, 0 lost",
                "value": f"fan-out p99 {format_number(p99, width=1)} ms (median of the runs), "
                f"lost {row['lost_total']}, duplicated {row['duplicated_total']}, errors "
                f"{sum(row['errors_total'].values())}",
                "verdict": _verdict(
                    p99 is not None
                    and p99 < TARGET_FANOUT_P99_MS
                    and row["lost_total"] == 0
                    and row["duplicated_total"] == 0
                    and not row["errors_total"],
                    few,
                ),
            }
        )
    lost = sum(row["lost_total"] for row in rows)
    verdicts.append(
        {
            "label": "0 lost (every rate" + (" and the hold)" if hold else ")"),
            "value": f"lost {lost}",
            "verdict": _verdict(lost == 0, few),
        }
    )
    growth = ramp["sockets_rss_growth_mb"]
    verdicts.append(
        {
            "label": f"RSS growth < {TARGET_SOCKETS_RSS_MB:.0f} MB for {TARGET_VIEWERS} sockets",
            "value": f"{format_number(growth, width=1)} MB for {viewers} "
            f"({format_number(ramp['kb_per_socket'], width=1)} KB a socket)",
            "verdict": _verdict(
                growth is not None and growth * TARGET_VIEWERS / viewers < TARGET_SOCKETS_RSS_MB,
                few,
            ),
        }
    )
    if hold:
        verdicts.append(
            {
                "label": f"no RSS growth over the hold (< {TARGET_SOAK_GROWTH_MB:.0f} MB; "
                f"target: {TARGET_HOLD_S} s)",
                "value": f"{format_number(hold['growth_mb_max'], width=1)} MB at most "
                f"(slope {hold['slope_mb_per_min']} MB/min, median)",
                "verdict": _verdict(
                    hold["growth_mb_max"] is not None
                    and hold["growth_mb_max"] < TARGET_SOAK_GROWTH_MB,
                    few or hold_s < TARGET_HOLD_S,
                ),
            }
        )
    return [{**verdict, "variant": JUDGED_VARIANT} for verdict in verdicts]


def forum_settings(args: argparse.Namespace, loads: list[Load]) -> dict[str, Any]:
    return {
        "drain_limit_s": drain_limit(args),
        "viewers": args.users,
        "rates": [load.rate for load in loads],
        "arrival": args.arrival,
        "max_connections": args.max_connections,
        "connect_concurrency": connect_concurrency(args),
        "hold_s": hold_seconds(args),
        "hold_rate": hold_rate(args),
        "order": "for each repetition, for each variant (fresh server, fresh sessions, sockets "
        "opened once): ramp, probe, warm-up, rates ascending, hold",
        "posts": "post i of a run: content 'Bench post <token>.<run>.<i>: ...', by viewer 1; "
        "latency from its due time to its post_created at each viewer; fan-out latency: the "
        "last viewer's",
    }


LEGEND = """\
Open model: numbered posts at a fixed rate by one viewer (the poster); each post's arrival timed
at every viewer from its scheduled time. Fan-out latency: the post's last receiver (complete
posts only). Cells: median over the repetitions; posts, lost, dup, drop and err summed.
  posts       posts due    fanout p50..max  fan-out latency of the posts (median of the runs)
  first p50   the first receiver's   dlv p99  all (post, viewer) deliveries
  lost        (post, viewer) pairs not delivered when the generator stopped waiting
  dup         extra post_created of one post at one viewer   drop  sockets the server closed
  err         errors of every kind (listed under the row)   ack p99  the POST's 201 (http)
  cpu ms/post server CPU per post   us/dlv  server CPU per frame delivered
  pg ms/post  CPU of the server's PostgreSQL backends   redis  the whole Redis server's CPU
  rss MB      peak RSS of the server   db  peak database connections
  other%      share of the server's CPU used by anything else (noise)
  gen% genoth%  the generator's CPU use, and other use of its CPU   lag ms  worst send delay"""


def _columns(row: dict[str, Any]) -> list[tuple[str, int, str]]:
    fanout = row["fanout_ms"]
    return [
        ("posts", 5, format_count(row["posts_total"], width=5)),
        *(
            (f"fanout {key}", 10, format_number(fanout[key], width=10))
            for key in ("p50", "p99", "max")
        ),
        ("first p50", 9, format_number(row["first_ms"]["p50"], width=9)),
        ("dlv p99", 7, format_number(row["delivery_ms"]["p99"], width=7)),
        ("lost", 5, format_count(row["lost_total"], width=5)),
        ("dup", 3, format_count(row["duplicated_total"], width=3)),
        ("drop", 4, format_count(row["drops_total"], width=4)),
        ("err", 4, format_count(sum(row["errors_total"].values()), width=4)),
        ("ack p99", 7, format_number(row["ack_ms"]["p99"], width=7)),
        ("cpu ms/post", 11, format_number(row.get("cpu_ms_per_post"), width=11)),
        ("us/dlv", 6, format_number(row.get("cpu_us_per_delivery"), width=6)),
        ("pg ms/post", 10, format_number(row.get("postgres_cpu_ms_per_post"), width=10)),
        ("redis", 5, format_number(row.get("redis_cpu_ms_per_post"), width=5)),
        *usage_columns(row),
    ]


def _row_notes(row: dict[str, Any]) -> str:
    pooled = row["fanout_ms_pooled"]
    errors = ", ".join(f"{kind} x{count}" for kind, count in row["errors_total"].items())
    notes = [
        f"all {row['posts_total'] - row['posts_incomplete_total']} complete posts together: "
        "fan-out "
        + " ".join(f"{key} {format_number(pooled[key], width=1)}" for key in ("p50", "p99", "max"))
        + " ms",
        f"errors: {errors or 'none'}",
    ]
    if row["lost_total"]:
        notes.append(
            f"{row['posts_incomplete_total']} posts missed some viewer, "
            f"{row['posts_unseen_total']} reached none; runs ended {row['stops']}"
        )
    if row["reordered_total"]:
        notes.append(f"{row['reordered_total']} deliveries after a newer post")
    if row["late_frames_total"]:
        notes.append(f"{row['late_frames_total']} frames arrived after their run had ended")
    return "; ".join(notes)


def _ramp_lines(summary: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    lines = [
        f"ramp (per server start, medians; {settings['connect_concurrency']} handshakes at a "
        "time; presence: frames the viewers got until none came for "
        f"{SETTLE_QUIET_S:g} s):",
        f"{'variant':<16} {'open':>9} {'secs':>5} {'hs p50':>7} {'hs p99':>7} {'hs max':>7} "
        f"{'presence':>8} {'last s':>6} {'shown':>5} {'cpu s':>6} {'rss MB':>13} {'growth':>6} "
        f"{'KB/sock':>7}  errors",
    ]
    for name, row in summary["ramp"].items():
        errors = ", ".join(f"{kind} x{count}" for kind, count in row["errors_total"].items())
        lines.append(
            f"{name:<16} {row['connected_min']:>4}/{row['viewers']:<4} "
            f"{format_number(row['connect_seconds'], width=5)} "
            + " ".join(
                format_number(row[f"handshake_{key}"], width=7) for key in ("p50", "p99", "max")
            )
            + f" {format_count(row['presence_frames'], width=8)}"
            f" {format_number(row['last_presence_s'], width=6)}"
            f" {format_count(row['shown_all_min'], width=5)}"
            f" {format_number(row['ramp_cpu_seconds'], width=6)}"
            f" {format_number(row['rss_before_mb'], width=6)}->"
            f"{format_number(row['rss_after_mb'], width=5)}"
            f" {format_number(row['sockets_rss_growth_mb'], width=6)}"
            f" {format_number(row['kb_per_socket'], width=7)}  {errors or 'none'}"
        )
    lines.append(
        "  (open: sockets open after the ramp, fewest of the starts; secs: first connect to the "
        "last handshake; hs: handshake ms; last s: the last presence frame, from the first "
        "connect; shown: viewers whose last presence counted every open socket, fewest of the "
        "starts; cpu s: server CPU of the ramp; rss: at rest before, and after the ramp)"
    )
    return lines


def _hold_lines(summary: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    if not summary["hold"]:
        return []
    posts = f"a post every {1 / settings['hold_rate']:g} s" if settings["hold_rate"] else "no posts"
    lines = [
        "",
        f"hold: the sockets kept {settings['hold_s']} s, {posts}; RSS every "
        f"{HOLD_SERIES_INTERVAL_S:g} s (start, end: means of the first and last tenth; max: the "
        "largest growth of the starts):",
        f"{'variant':<16} {'open at end':>11} {'drop':>4} {'posts':>5} {'lost':>5} "
        f"{'fanout p99':>10} {'rss start':>9} {'end':>6} {'growth':>6} {'max':>6} "
        f"{'MB/min':>6} {'other%':>6}  errors",
    ]
    for name, row in summary["hold"].items():
        errors = ", ".join(f"{kind} x{count}" for kind, count in row["errors_total"].items())
        lines.append(
            f"{name:<16} {format_count(row['viewers_open_at_end_min'], width=11)} "
            f"{format_count(row['drops_total'], width=4)} "
            f"{format_count(row['posts_total'], width=5)} "
            f"{format_count(row['lost_total'], width=5)} "
            f"{format_number(row['fanout_ms']['p99'], width=10)} "
            f"{format_number(row['start_mb'], width=9)} {format_number(row['end_mb'], width=6)} "
            f"{format_number(row['growth_mb'], width=6)} "
            f"{format_number(row['growth_mb_max'], width=6)} "
            f"{format_number(row['slope_mb_per_min'], width=6)} "
            f"{format_percent(row['server_core_other_share'], width=6)}  {errors or 'none'}"
        )
    return lines


def table(results: dict[str, Any]) -> str:
    scenario = results["scenario"]
    settings = results["settings"]
    summary = results["summary"]
    database = results["environment"]["database"]
    if results["environment"].get("database_created"):
        database += " (created for the run, seeded)"
    lines = [
        f"scenario {scenario['name']}: {scenario['description']}",
        f"{settings['viewers']} viewers; {settings['repetitions']} repetitions x "
        f"{settings['duration_s']} s per rate, then a hold of {settings['hold_s']} s; variants "
        f"interleaved; server on CPU {settings['server_cpu']}, generator on CPU "
        f"{settings['loadgen_cpu']}; database {database}; Redis channel layer",
        LEGEND,
        "",
        *_ramp_lines(summary, settings),
    ]
    for block in summary["loads"]:
        rate = block["load"]["rate"]
        lines += [
            "",
            f"rate {rate:g} posts/s for {settings['duration_s']} s ({settings['arrival']} "
            f"arrivals; lost: none delivered for {settings['timeout_s']} s, or "
            f"{settings['drain_limit_s']:g} s after the last post)",
        ]
        for row, columns in variant_rows(block, _columns):
            lines += [*columns, f"{'':<16} {_row_notes(row)}"]
        lines += ratio_lines(
            block["ratios"],
            (("p50", "fan-out p50"), ("p99", "p99"), ("cpu_ms_per_post", "cpu")),
        )
    lines += _hold_lines(summary, settings)
    verdicts = results.get("targets") or []
    if verdicts:
        lines += ["", f"targets (BENCHMARKS.md), {verdicts[0]['variant']}:"]
    for verdict in verdicts:
        lines.append(f"  {verdict['label']}: {verdict['value']}: {verdict['verdict']}")
    return "\n".join(lines)


FORUM = SocketScenario(
    check=check_arguments,
    open_files=lambda args: 3 * args.users + args.max_connections + 1024,
    seed=seed_viewers,
    run_variant=run_variant,
    summarize=summarize,
    judge=judge,
    settings=forum_settings,
    table=table,
)


def run_scenario(scenario: Scenario, args: argparse.Namespace) -> int:
    """`args` has the scenario's defaults applied (bench/run.py)."""
    return run_socket_scenario(scenario, args, FORUM)


def main(argv: list[str] | None = None) -> int:
    return print_tables(argv, table)


if __name__ == "__main__":
    sys.exit(main())
