"""The `usecases_library` scenario: the library's list with filters and facets on 100k use cases
(see bench/README.md).

    REDIS_URL=redis://127.0.0.1:6379/14 python -m bench.run --scenario usecases_library \
        --postgres-database p2p_bench_uc --keep-database   # kept, and reused next time
    python -m bench.library bench/results/usecases_library.json     # print a results file again

Run by bench/run.py. Before the repetitions: a PostgreSQL database of the run's own, migrated and
seeded with `python -m bench.seed --use-cases N` (or, with `--keep-database`, the database a
previous run of the same size left, migrated again); fresh sessions of the viewers (a member of
each organization); then the first request of each kind is timed query by query, with no server
running (`python -m bench.library --profile`), to say where the time goes. For each repetition,
for each variant in turn (A B A B ...): a fresh server pinned to the server CPU with a cache of
its own, checked on GET /health, then every kind sent once and checked (the same answer from
every variant and repetition), a warm-up, and each rate in ascending order, the cache emptied
first: the open-model generator (bench/openloop.py with a requests file, pinned to the other
CPU) sends the kinds in turn, their parameters and the viewers in turn, at the rate, while
bench/monitor.py samples the server and the database connections and the CPU of the server's
PostgreSQL backends is read from /proc.
"""

import argparse
import contextlib
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import prepare
from bench import run as runner
from bench.loadgen import LoadError, OpenModel, latency_summary
from bench.messaging import ServiceCpu
from bench.monitor import DatabaseConnectionCounter, Monitor, wait_until_idle
from bench.report import format_count, format_number, format_percent
from bench.scenarios import HOST, Load, Scenario
from bench.server import Server, ServerError
from bench.usecase_seed import BROAD_WORD, SEED_VERSION, SELECTIVE_WORD
from bench.workloads import RequestPlan

API_PATH = "/api/v1/use-cases"
DEFAULT_USE_CASES = 100_000
PAGE_SIZE = 20
FACETS = (
    "category",
    "industry_tag",
    "technology_tag",
    "city",
    "budget_range",
    "has_metrics",
    "organization",
)
JUDGED_VARIANT = "project-daphne"
BASELINE_VARIANT = "sync-gunicorn"
# A kind's figures at one rate pool the responses of all repetitions (a run has few of each).
LATENCY_KEYS = ("p50", "p95", "p99", "max")
PROFILE_REPEAT = 3
RESULT_PREFIX = "BENCH_RESULT "
MARKER_PREFIX = "p2p-bench usecases_library "
# A variant whose done/s is at least this share of the rate kept up with it.
KEPT_UP_SHARE = 0.95
# An overloaded run leaves abandoned requests that the server and the database still work on.
SETTLE_S = 90.0


@dataclass(frozen=True)
class QueryKind:
    """One kind of query: its parameters take each of `variants` in turn (users do not all ask
    the same thing, and the facets are cached per filters: one fixed query would be measured
    from the cache)."""

    name: str
    description: str
    variants: tuple[tuple[tuple[str, str], ...], ...]

    def path(self, variant: int = 0) -> str:
        params = self.variants[variant % len(self.variants)]
        return API_PATH + (f"?{urlencode(params)}" if params else "")


def _each(name: str, values: Iterable[str]) -> tuple[tuple[tuple[str, str], ...], ...]:
    return tuple(((name, value),) for value in values)


# Parameters chosen on the seeded data for their selectivity (rows seen by a viewer, 100k use
# cases): each category + city pair 150-330, each tag with metrics 1.7k-4k, each rare search
# 200-600, each common word 14k-50k.
QUERY_KINDS = (
    QueryKind("all", "no filter, first page, with facets", ((),)),
    QueryKind(
        "category_city",
        "category + city (selective, ~0.2-0.4%), with facets; 10 pairs in turn",
        tuple(
            (("category", category), ("city", city))
            for category, city in (
                ("energy_efficiency", "jubail"),
                ("artificial_intelligence", "hail"),
                ("innovation", "dhahran"),
                ("predictive_maintenance", "mecca"),
                ("supply_chain", "al_khobar"),
                ("quality_control", "kaec"),
                ("factory_automation", "medina"),
                ("sustainability", "qassim"),
                ("process_optimization", "dhahran"),
                ("training_and_safety", "al_khobar"),
            )
        ),
    ),
    QueryKind(
        "tag_metrics",
        "technology tag + has_metrics (~2-5%), with facets; 8 tags in turn",
        tuple(
            (("technology_tag", tag), ("has_metrics", "true"))
            for tag in (
                "digital twin",
                "mes",
                "rfid",
                "augmented reality",
                "energy metering",
                "cloud analytics",
                "collaborative robots",
                "edge computing",
            )
        ),
    ),
    QueryKind(
        "search_selective",
        "full text, rare words (~0.3-0.7%), by relevance, with facets; 6 queries in turn",
        _each(
            "search",
            (
                SELECTIVE_WORD,
                "thermal kilns",
                "glare mixers",
                "dust extruders",
                "leak cooling",
                "cobots chillers",
            ),
        ),
    ),
    QueryKind(
        "search_broad",
        "full text, a common word (15-60%), by relevance, with facets; 5 words in turn",
        _each("search", (BROAD_WORD, "quality", "sensors", "downtime", "energy")),
    ),
    QueryKind("all_no_facets", "no filter, first page, facets=false", ((("facets", "false"),),)),
)
KINDS_BY_NAME = {kind.name: kind for kind in QUERY_KINDS}
# The requests file's cycle: request i is kind i mod 6, its (i div 6)-th variant, viewer i mod
# the viewers; long enough for every variant with every viewer to come up.
CYCLE_ROUNDS = 120


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def median(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


# The database: created and seeded, or reused


def _marker(use_cases: int) -> str:
    return f"{MARKER_PREFIX}use_cases={use_cases} seed={SEED_VERSION}"


def _read_comment(admin_url: str, name: str) -> str | None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    return row[0] if row else None


def _write_comment(admin_url: str, name: str, comment: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(comment)
            )
        )


def _analyze(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("ANALYZE")


def prepare_database(
    args: argparse.Namespace, env: dict[str, str], log_dir: Path
) -> tuple[runner.Database, bool]:
    """The library's database: reused when `--keep-database` finds one seeded at the same size
    by the same seed version (its comment says so), else dropped, created, migrated and seeded
    (and marked). Returns (the database, whether it was reused)."""
    log_path = log_dir / "prepare.log"
    name = args.postgres_database
    marker = _marker(args.use_cases)
    comment = _read_comment(args.postgres_url, name) if args.keep_database else None
    if comment and comment.split("\n", 1)[0] == marker:
        url, application_name = runner.tag_database_url(
            prepare._with_database(args.postgres_url, name)
        )
        env["DATABASE_URL"] = url
        started = time.monotonic()
        prepare.migrate(env, log_path)
        # A migration may have added a column or an index: fresh planner statistics.
        _analyze(url)
        _progress(
            f"reusing PostgreSQL database {name} ({marker}); migrated and analyzed in "
            f"{time.monotonic() - started:.1f} s"
        )
        seed = json.loads(comment.split("\n", 1)[1])
        return runner.Database(url, "postgresql", application_name, "postgres", seed), True
    _progress(f"recreating PostgreSQL database {name}")
    url, application_name = runner.tag_database_url(
        prepare.recreate_postgres(args.postgres_url, name)
    )
    env["DATABASE_URL"] = url
    started = time.monotonic()
    prepare.migrate(env, log_path)
    _progress(f"migrated in {time.monotonic() - started:.1f} s; seeding {args.use_cases} use cases")
    command = [sys.executable, "-m", "bench.seed", f"--use-cases={args.use_cases}"]
    seed = prepare._result(prepare._run(command, env, log_path, "bench.seed"), "bench.seed")
    _progress(
        f"seeded {seed['use_cases']} use cases ({seed['published']} published, "
        f"{seed['tag_rows']} tag rows, {seed['metric_rows']} metrics) in {seed['seconds']} s"
    )
    if args.keep_database:
        _write_comment(args.postgres_url, name, f"{marker}\n{json.dumps(seed)}")
    return runner.Database(url, "postgresql", application_name, "postgres", seed), False


def viewer_credentials(env: dict[str, str], log_dir: Path) -> dict[str, Any]:
    """Fresh sessions of the viewers, signed with the servers' SECRET_KEY."""
    path = log_dir / "credentials.json"
    command = [
        sys.executable,
        "-m",
        "bench.seed",
        "--library-credentials",
        f"--sessions-file={path}",
    ]
    prepare._run(command, env, log_dir / "prepare.log", "bench.seed --library-credentials")
    return json.loads(path.read_text())


def _cookie(credentials: dict[str, Any], viewer: dict[str, Any]) -> str:
    return f"{credentials['cookie_name']}={viewer['session_key']}"


def write_requests_file(log_dir: Path, credentials: dict[str, Any]) -> Path:
    """The generator's mix: the kinds in turn, each kind's variants in turn, the viewers in turn
    (each request with its viewer's session cookie)."""
    viewers = credentials["viewers"]
    entries: dict[str, dict[str, Any]] = {}
    cycle = []
    for index in range(len(QUERY_KINDS) * CYCLE_ROUNDS):
        kind = QUERY_KINDS[index % len(QUERY_KINDS)]
        variant = (index // len(QUERY_KINDS)) % len(kind.variants)
        viewer = index % len(viewers)
        name = f"{kind.name}.{variant}.{viewer}"
        entries.setdefault(
            name,
            {
                "name": name,
                "kind": kind.name,
                "path": kind.path(variant),
                "headers": {"Cookie": _cookie(credentials, viewers[viewer])},
            },
        )
        cycle.append(name)
    path = log_dir / "requests.json"
    path.write_text(json.dumps({"kinds": list(entries.values()), "cycle": cycle}))
    return path


# Where a request's time goes (run in a process of its own, with Django, no server)


def _label(sql: str) -> str:
    """A short name for one of the list's queries."""
    if "LIMIT" in sql and "ORDER BY" in sql and "GROUP BY" not in sql:
        return "page"
    if "FILTER (WHERE" in sql:
        return "facet has_metrics"
    if "GROUP BY" in sql:
        if '"usecases_usecasetag"."name" AS "value"' in sql:
            return "facet " + ("industry_tag" if "'industry'" in sql else "technology_tag")
        if '"accounts_organization"."slug" AS "value"' in sql:
            return "facet organization"
        for column in ("category", "city", "budget_range"):
            if f'"usecases_usecase"."{column}" AS "value"' in sql:
                return f"facet {column}"
    if "COUNT(*)" in sql:
        return "count"
    return "other"


def profile_kinds(email: str) -> dict[str, Any]:
    """The first variant of each kind as the API runs it (usecases.api.library_page, with the
    facet cache off), timed query by query, `PROFILE_REPEAT` times; the run with the median
    total is kept. With every variant's count of rows, as the viewer sees them."""
    from django.db import connection
    from django.test import override_settings
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from usecases.api import LibraryQuery, PageQuery, library_page
    from usecases.selectors import filters_from, list_filtered_use_cases

    viewer = User.objects.select_related("organization").get(email=email)
    profiles = {}
    for kind in QUERY_KINDS:
        attempts = []
        for _ in range(PROFILE_REPEAT):
            with (
                override_settings(USECASES_FACETS_CACHE_SECONDS=0),
                CaptureQueriesContext(connection) as captured,
            ):
                started = time.perf_counter()
                answer = library_page(viewer, LibraryQuery(**dict(kind.variants[0])), PageQuery())
                total = time.perf_counter() - started
            queries = [
                {
                    "label": _label(query["sql"]),
                    "ms": round(float(query["time"]) * 1000, 1),
                    "sql": query["sql"][:400],
                }
                for query in captured.captured_queries
            ]
            attempts.append((total, queries, answer["count"]))
        attempts.sort(key=lambda attempt: attempt[0])
        total, queries, count = attempts[len(attempts) // 2]
        profiles[kind.name] = {
            "total_ms": round(total * 1000, 1),
            "sql_ms": round(sum(query["ms"] for query in queries), 1),
            "count": count,
            "counts": [
                list_filtered_use_cases(
                    viewer, filters_from(LibraryQuery(**dict(params)).model_dump())
                ).count()
                for params in kind.variants
            ],
            "queries": queries,
        }
    return profiles


def run_profile(env: dict[str, str], log_dir: Path, args: argparse.Namespace, email: str) -> Any:
    command = [
        "taskset",
        "--cpu-list",
        str(args.server_cpu),
        sys.executable,
        "-m",
        "bench.library",
        "--profile",
        email,
    ]
    output = prepare._run(command, env, log_dir / "prepare.log", "bench.library --profile")
    return prepare._result(output, "bench.library --profile")


# Checking the answers


def _check_answer(
    kind: QueryKind, status: int, content_type: str | None, body: bytes, viewer: dict[str, Any]
) -> tuple[str | None, Any]:
    """(what is wrong or None, the document)."""
    if status != 200:
        return f"status {status}", None
    if (content_type or "").split(";")[0].strip() != "application/json":
        return f"Content-Type {content_type!r}", None
    try:
        document = json.loads(body)
    except ValueError:
        return "the body is not JSON", None
    if not isinstance(document, dict) or set(document) != {"items", "count", "facets"}:
        return "the body is not {items, count, facets}", document
    items, count, facets = document["items"], document["count"], document["facets"]
    if not isinstance(count, int) or count < 1:
        return f"count {count!r}: the data set has none of this kind", document
    if len(items) != min(PAGE_SIZE, count):
        return f"{len(items)} items for a count of {count}", document
    params = dict(kind.variants[0])
    if params.get("facets") == "false":
        if facets is not None:
            return "facets=false answered facets", document
    elif not isinstance(facets, dict) or set(facets) != set(FACETS):
        return f"facets are not {FACETS}", document
    for item in items:
        if item["status"] != "published":
            return f"item {item['id']} is {item['status']}", document
        if item["visibility"] != "public" and item["organization"]["id"] != viewer.get(
            "organization_id"
        ):
            return f"item {item['id']} is another organization's", document
        for key in ("category", "city"):
            if key in params and item[key] != params[key]:
                return f"item {item['id']} has {key} {item[key]!r}", document
        if "technology_tag" in params and params["technology_tag"] not in item["technology_tags"]:
            return f"item {item['id']} lacks the tag {params['technology_tag']!r}", document
        if params.get("has_metrics") == "true" and item["metric_count"] < 1:
            return f"item {item['id']} has no metrics", document
    return None, document


def probe(
    server: Server, credentials: dict[str, Any], expected: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Every kind once, checked; the first answer of each kind is the reference every later one
    (another variant, another repetition) must equal exactly."""
    import http.client

    viewer = credentials["viewers"][0]
    cookie = _cookie(credentials, viewer)
    probes = {}
    for kind in QUERY_KINDS:
        connection = http.client.HTTPConnection(HOST, server.port, timeout=120)
        started = time.monotonic()
        try:
            connection.request("GET", kind.path(), headers={"Cookie": cookie})
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise ServerError(
                f"{server.variant.name}: GET {kind.path()} failed: {error}\n{server.log_tail()}"
            ) from error
        finally:
            connection.close()
        elapsed = time.monotonic() - started
        problem, document = _check_answer(
            kind,
            response.status,
            response.getheader("Content-Type"),
            body,
            viewer,
        )
        if problem is None and kind.name in expected and document != expected[kind.name]:
            problem = "not the same answer as the first variant's"
        if problem is not None:
            raise ServerError(
                f"{server.variant.name} answered GET {kind.path()} wrongly ({problem}): "
                f"{response.status}, body {body[:300]!r}\n{server.log_tail()}"
            )
        expected.setdefault(kind.name, document)
        probes[kind.name] = {"count": document["count"], "seconds": round(elapsed, 3)}
    return probes


# One server start


def _p95(latencies_ms: list[float]) -> str:
    return format_number(latency_summary(latencies_ms)["p95"], width=1)


def flush_cache(env: dict[str, str]) -> int | None:
    """Delete the server start's keys from the Redis cache (its CACHE_KEY_PREFIX); None without
    Redis (each process then has a cache in memory that only a restart empties)."""
    redis_url = env.get("REDIS_URL", "").strip()
    if not redis_url:
        return None
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{env['CACHE_KEY_PREFIX']}:*", count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


def run_variant(
    scenario: Scenario,
    server: Server,
    loads: list[Load],
    args: argparse.Namespace,
    repetition: int,
    open_model: OpenModel,
    credentials: dict[str, Any],
    expected: dict[str, Any],
    counter: DatabaseConnectionCounter,
    services: ServiceCpu,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    start_s = server.wait_ready(scenario)
    probes = probe(server, credentials, expected)
    url = server.url("")
    if args.warmup:
        open_model.first = 0
        open_model.run(url, Load(args.max_connections, loads[0].rate), args.warmup)
    runs = []
    for load in loads:
        settle_s = wait_until_idle(server.pid, timeout=SETTLE_S)
        # Every run starts from a cold facet cache, warmed only by its own requests (else a run
        # would be measured from what the warm-up and the runs before it counted).
        flushed = flush_cache(server.env)
        # Every run sends the same sequence (the kinds in turn from the first; with poisson
        # arrivals, the same gaps), whatever the variant.
        open_model.first = 0
        monitor = Monitor(
            server.pid, server_cpu=args.server_cpu, loadgen_cpu=args.loadgen_cpu, database=counter
        )
        services.start()
        monitor.start()
        started_at = runner._now()
        try:
            result = open_model.run(url, load, args.duration)
        finally:
            usage = monitor.stop()
            service_cpu = services.stop()
        if server.process is not None and server.process.poll() is not None:
            raise ServerError(f"{server.variant.name} died during the run:\n{server.log_tail()}")
        run = {
            "repetition": repetition,
            "variant": server.variant.name,
            "load": load.as_dict(),
            "started_at": started_at,
            "settle_s": round(settle_s, 2),
            "cache_keys_flushed": flushed,
            "result": result.as_dict(),
            "server": usage.as_dict(),
            "services": service_cpu,
        }
        runs.append(run)
        kinds = result.generator["kinds"]
        _progress(
            f"  rep {repetition} {server.variant.name:<15} rate {load.rate:g}/s "
            f"{result.requests_per_s:5.2f} done/s  "
            + "  ".join(
                f"{name} p95 {_p95(kinds[name]['latencies_ms'])}"
                for name in (kind.name for kind in QUERY_KINDS)
                if name in kinds
            )
            + f"  ms; errors {sum(result.errors.values())}  rss "
            f"{usage.peak_rss_total_kb / 1024:.0f} MB  db {usage.peak_db_connections}"
        )
    start = {
        "repetition": repetition,
        "variant": server.variant.name,
        "server_command": server.command,
        "server_start_s": round(start_s, 2),
        "probe": probes,
    }
    return start, runs


# Summary


def _errors(results: list[dict[str, Any]]) -> dict[str, int]:
    """Connection errors and timeouts by kind, and the responses outside 2xx by status, of
    entries with `errors` (connect, read, write, timeout) and `statuses`."""
    errors: dict[str, int] = {}
    for result in results:
        for kind, count in result["errors"].items():
            if count:
                errors[kind] = errors.get(kind, 0) + count
        for status, count in result["statuses"].items():
            if not 200 <= int(status) <= 299:
                errors[f"http_{status}"] = errors.get(f"http_{status}", 0) + count
    return dict(sorted(errors.items()))


def _per_request(seconds: float | None, requests: int) -> float | None:
    return seconds * 1000 / requests if seconds is not None and requests else None


def _run_kind(run: dict[str, Any], name: str) -> dict[str, Any]:
    return run["result"]["generator"]["kinds"].get(
        name, {"scheduled": 0, "latencies_ms": [], "statuses": {}, "errors": {}}
    )


def summarize(
    scenario: Scenario, runs: list[dict[str, Any]], variants: list[str], loads: list[Load]
) -> list[dict[str, Any]]:
    blocks = []
    for load in loads:
        load_runs = [run for run in runs if run["load"] == load.as_dict()]
        by_variant: dict[str, dict[str, Any]] = {}
        for name in variants:
            these = [run for run in load_runs if run["variant"] == name]
            if not these:
                continue
            results = [run["result"] for run in these]
            generators = [result["generator"] for result in results]
            servers = [run["server"] for run in these]
            kinds = {}
            for kind in QUERY_KINDS:
                per_run = [_run_kind(run, kind.name) for run in these]
                pooled = [value for entry in per_run for value in entry["latencies_ms"]]
                kinds[kind.name] = {
                    "scheduled_total": sum(entry["scheduled"] for entry in per_run),
                    "responses_total": len(pooled),
                    "latency_ms_pooled": latency_summary(pooled),
                    "latency_ms_median_of_runs": {
                        key: median(
                            latency_summary(entry["latencies_ms"])[key] for entry in per_run
                        )
                        for key in LATENCY_KEYS
                    },
                    "errors_total": _errors(per_run),
                }
            by_variant[name] = {
                "repetitions": len(these),
                "scheduled_total": sum(generator["scheduled"] for generator in generators),
                "requests_per_s": median(result["requests_per_s"] for result in results),
                "latency_ms": {
                    key: median(result["latency_ms"][key] for result in results)
                    for key in LATENCY_KEYS
                },
                "latency_ms_pooled": latency_summary(
                    [value for generator in generators for value in generator["latencies_ms"]]
                ),
                "errors_total": _errors(
                    [
                        {
                            "errors": {
                                key: count
                                for key, count in result["errors"].items()
                                if key != "non_2xx"
                            },
                            "statuses": result["generator"]["statuses"],
                        }
                        for result in results
                    ]
                ),
                "server_cpu_ms_per_request": median(
                    _per_request(run["server"]["cpu_seconds"], run["result"]["requests"])
                    for run in these
                ),
                "postgres_cpu_ms_per_request": median(
                    _per_request(
                        run["services"]["postgres_backend_cpu_seconds"], run["result"]["requests"]
                    )
                    for run in these
                ),
                "peak_rss_total_kb": median(server["peak_rss_total_kb"] for server in servers),
                "peak_db_connections": median(server["peak_db_connections"] for server in servers),
                "server_core_other_share": median(
                    server["server_core_other_share"] for server in servers
                ),
                "generator_cpu_share": median(generator["cpu_share"] for generator in generators),
                "loadgen_core_other_share": median(
                    max(0.0, server["loadgen_core_busy_share"] - (generator["cpu_share"] or 0.0))
                    for server, generator in zip(servers, generators, strict=True)
                ),
                "max_send_lag_ms": max(generator["max_send_lag_ms"] for generator in generators),
                "peak_open_connections": max(
                    generator["peak_open_connections"] for generator in generators
                ),
                "kinds": kinds,
            }
        blocks.append(
            {
                "load": load.as_dict(),
                "variants": by_variant,
                "ratios": _ratios(scenario, by_variant, load_runs),
            }
        )
    return blocks


def _ratios(
    scenario: Scenario, by_variant: dict[str, dict[str, Any]], load_runs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """done/s of one variant over the other within each repetition (then the median), and each
    kind's latency percentiles over all the repetitions' responses, one over the other."""
    ratios = []
    for ratio in scenario.ratios:
        if ratio.numerator not in by_variant or ratio.denominator not in by_variant:
            continue
        rates: dict[str, dict[int, float]] = {
            name: {
                run["repetition"]: run["result"]["requests_per_s"]
                for run in load_runs
                if run["variant"] == name
            }
            for name in (ratio.numerator, ratio.denominator)
        }
        paired = [
            round(rate / rates[ratio.denominator][repetition], 3)
            if rates[ratio.denominator].get(repetition)
            else None
            for repetition, rate in sorted(rates[ratio.numerator].items())
            if repetition in rates[ratio.denominator]
        ]
        kinds = {}
        for kind in QUERY_KINDS:
            top = by_variant[ratio.numerator]["kinds"][kind.name]["latency_ms_pooled"]
            bottom = by_variant[ratio.denominator]["kinds"][kind.name]["latency_ms_pooled"]
            kinds[kind.name] = {
                key: round(top[key] / bottom[key], 3)
                if top[key] is not None and bottom[key]
                else None
                for key in ("p50", "p95", "p99")
            }
        ratios.append(
            {
                "label": ratio.label,
                "numerator": ratio.numerator,
                "denominator": ratio.denominator,
                "requests_per_s": {
                    "median": median(paired),
                    "per_repetition": paired,
                },
                "latency_pooled": kinds,
            }
        )
    return ratios


def judge(scenario: Scenario, summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """BENCHMARKS.md: search p95 < 100 ms selective, < 300 ms broad (at the lowest rate, all
    responses of the kind together, no error); database-bound endpoints at least 0.7x the sync
    WSGI throughput (done/s at the highest rate, where the server is most loaded)."""
    verdicts = []
    kinds = {"selective search": "search_selective", "broad search": "search_broad"}
    for target in scenario.targets:
        kind = next(value for key, value in kinds.items() if target.label.startswith(key))
        for block in summary:
            row = block["variants"].get(target.variant)
            if block["load"]["rate"] != target.rate or row is None:
                continue
            cell = row["kinds"][kind]
            value = cell["latency_ms_pooled"][target.percentile]
            errors = sum(cell["errors_total"].values())
            verdicts.append(
                {
                    "label": f"{target.label} at {target.rate:g} req/s",
                    "variant": target.variant,
                    "value": f"{kind} {target.percentile} {format_number(value, width=1)} ms "
                    f"({cell['responses_total']} responses), {errors} errors",
                    "met": value is not None and value < target.limit_ms and errors == 0,
                }
            )
    if summary:
        block = summary[-1]
        for ratio in block["ratios"]:
            if ratio["denominator"] != BASELINE_VARIANT:
                continue
            value = ratio["requests_per_s"]["median"]
            rate = block["load"]["rate"]
            kept_up = all(
                (block["variants"][name]["requests_per_s"] or 0) >= KEPT_UP_SHARE * rate
                for name in (ratio["numerator"], ratio["denominator"])
            )
            verdicts.append(
                {
                    "label": "database-bound endpoint: at least 0.7x the sync WSGI throughput "
                    f"(done/s at {rate:g} req/s)",
                    "variant": ratio["numerator"],
                    "value": f"{format_number(value, width=1)}x"
                    + (
                        " (both kept up with the rate: no limit reached, raise --rate to "
                        "compare throughput)"
                        if kept_up
                        else ""
                    ),
                    "met": value is not None and value >= 0.7,
                }
            )
    return verdicts


# The table

LEGEND = """\
Open model: the six kinds of query in turn at a fixed total rate, each request on a new
connection with the viewer's session cookie; latency from the scheduled send time to the end of
the response. A kind's latencies pool the responses of all repetitions (a run has a few of each);
the variant's line pools every kind. sent, err: summed over the repetitions.
  done/s      responses per second (median of the runs; below the rate: the server fell behind)
  cpu ms      server CPU per response   pg ms  CPU of the server's PostgreSQL backends per response
  rss MB      peak RSS of the server   db  peak database connections
  other%      share of the server's CPU used by anything else (noise: PostgreSQL, other programs)
  gen% genoth%  the generator's CPU use, and other use of its CPU   lag ms  worst send delay"""


def _variant_line(name: str, row: dict[str, Any]) -> str:
    rss = row["peak_rss_total_kb"]
    pooled = row["latency_ms_pooled"]
    return (
        f"{name:<16} {'(all kinds)':<17} {format_count(row['scheduled_total'], width=5)} "
        f"{format_number(row['requests_per_s'], width=6)} "
        + " ".join(format_number(pooled[key], width=8) for key in LATENCY_KEYS)
        + f" {format_count(sum(row['errors_total'].values()), width=4)}"
        f" {format_number(row['server_cpu_ms_per_request'], width=6)}"
        f" {format_number(row['postgres_cpu_ms_per_request'], width=6)}"
        f" {format_number(rss / 1024 if rss is not None else None, width=6)}"
        f" {format_count(row['peak_db_connections'], width=3)}"
        f" {format_percent(row['server_core_other_share'], width=6)}"
        f" {format_percent(row['generator_cpu_share'], width=4)}"
        f" {format_percent(row['loadgen_core_other_share'], width=7)}"
        f" {format_number(row['max_send_lag_ms'], width=6)}"
    )


def table(results: dict[str, Any]) -> str:
    scenario = results["scenario"]
    settings = results["settings"]
    summary = results["summary"]
    data = results.get("data") or {}
    environment = results["environment"]
    lines = [
        f"scenario {scenario['name']}: {scenario['description']}",
        f"{settings['repetitions']} repetitions x {settings['duration_s']} s per rate, variants "
        f"interleaved; server on CPU {settings['server_cpu']}, generator on CPU "
        f"{settings['loadgen_cpu']}; PostgreSQL database {environment['database_name']} ("
        + ("reused, seeded by an earlier run" if environment.get("database_reused") else "seeded")
        + ")",
    ]
    if data:
        lines.append(
            f"data: {data['use_cases']} use cases ({data['published']} published, "
            f"{data['published_public']} public), {data['organizations']} organizations, "
            f"{data['tag_rows']} tag rows, {data['use_cases_with_metrics']} with "
            f"{data['metric_rows']} metrics; the viewers: a member of each organization, in turn"
        )
    lines.append(
        "kinds (rows matched as the first viewer sees them, fewest..most of the variants):"
    )
    matched = results.get("matched") or {}
    for kind in results["scenario"]["kinds"]:
        counts = matched.get(kind["name"]) or []
        span = f"{min(counts)}..{max(counts)}" if counts else "-"
        lines.append(
            f"  {kind['name']:<17} {span:>12}  {kind['description']}; e.g. GET {kind['paths'][0]}"
        )
    lines.append(LEGEND)
    for block in summary:
        lines += [
            "",
            f"rate {block['load']['rate']:g} req/s for {settings['duration_s']} s "
            f"({settings['arrival']} arrivals, timeout {settings['timeout_s']} s)",
            f"{'variant':<16} {'kind':<17} {'sent':>5} {'done/s':>6} "
            + " ".join(f"{key + ' ms':>8}" for key in LATENCY_KEYS)
            + f" {'err':>4} {'cpu ms':>6} {'pg ms':>6} {'rss MB':>6} {'db':>3} {'other%':>6} "
            f"{'gen%':>4} {'genoth%':>7} {'lag ms':>6}",
        ]
        for name, row in block["variants"].items():
            lines.append(_variant_line(name, row))
            for kind in QUERY_KINDS:
                cell = row["kinds"][kind.name]
                pooled = cell["latency_ms_pooled"]
                errors = ", ".join(f"{key} x{count}" for key, count in cell["errors_total"].items())
                lines.append(
                    f"{'':<16} {kind.name:<17} {format_count(cell['scheduled_total'], width=5)} "
                    f"{'':>6} "
                    + " ".join(format_number(pooled[key], width=8) for key in LATENCY_KEYS)
                    + f" {format_count(sum(cell['errors_total'].values()), width=4)}"
                    + (f"  {errors}" if errors else "")
                )
        for ratio in block["ratios"]:
            throughput = ratio["requests_per_s"]
            spread = ", ".join(
                "-" if value is None else f"{value:.2f}" for value in throughput["per_repetition"]
            )
            value = throughput["median"]
            lines.append(
                f"ratio {ratio['label']}: done/s {'-' if value is None else f'{value:.2f}x'} "
                f"({spread}); latency, all responses of a kind:"
            )
            for kind in QUERY_KINDS:
                cells = ratio["latency_pooled"][kind.name]
                lines.append(
                    f"  {kind.name:<17} "
                    + "   ".join(
                        f"{key} {'-' if cells[key] is None else f'{cells[key]:.2f}x'}"
                        for key in ("p50", "p95", "p99")
                    )
                )
    profile = results.get("profile")
    if profile:
        lines += [
            "",
            "where the time goes: one request of each kind through usecases.api.library_page, no "
            "server, no load (median of 3; ms):",
        ]
        for kind in QUERY_KINDS:
            entry = profile.get(kind.name)
            if entry is None:
                continue
            slowest = sorted(entry["queries"], key=lambda query: -query["ms"])[:4]
            lines.append(
                f"  {kind.name:<17} total {entry['total_ms']:7.1f}, SQL {entry['sql_ms']:7.1f} in "
                f"{len(entry['queries'])} queries; slowest: "
                + ", ".join(f"{query['label']} {query['ms']:.0f}" for query in slowest)
            )
    verdicts = results.get("targets") or []
    if verdicts:
        lines += ["", "targets (BENCHMARKS.md):"]
    for verdict in verdicts:
        lines.append(
            f"  {verdict['label']}: {verdict['variant']} {verdict['value']}: "
            + ("met" if verdict["met"] else "NOT met")
        )
    return "\n".join(lines)


# The flow


def run_scenario(scenario: Scenario, args: argparse.Namespace) -> int:
    """`args` has the scenario's defaults applied (bench/run.py)."""
    if (args.database or scenario.database) != "postgres":
        _progress(f"{scenario.name} runs on PostgreSQL only (its full-text search and index)")
        return 1
    loads = runner.loads_for(scenario, args)
    names = runner.variant_names(scenario, args)
    open_files = runner.raise_open_files_limit(2 * args.max_connections + 1024)
    started_at = runner._now()
    started = time.monotonic()
    load_at_start = os.getloadavg()
    log_dir = Path(tempfile.mkdtemp(prefix=f"p2p-bench-{scenario.name}-"))
    _progress(
        f"{scenario.name}: {len(names)} variants x {len(loads)} rates x {args.repetitions} "
        f"repetitions x {args.duration} s, {args.use_cases} use cases; logs in {log_dir}"
    )
    env = runner.server_environment("", scenario.unset_env)
    token = secrets.token_hex(3)
    starts: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    expected: dict[str, Any] = {}
    counter = None
    services = None
    database = None
    reused = False
    profile = None
    try:
        database, reused = prepare_database(args, env, log_dir)
        credentials = viewer_credentials(env, log_dir)
        profile = run_profile(env, log_dir, args, credentials["viewers"][0]["email"])
        _progress(
            "one request of each kind, no load: "
            + ", ".join(f"{name} {entry['total_ms']:.0f} ms" for name, entry in profile.items())
        )
        open_model = OpenModel(
            cpu=args.loadgen_cpu,
            timeout_s=args.timeout,
            workload="",
            plan=RequestPlan(users=1, token=token),
            arrival=args.arrival,
            requests_file=write_requests_file(log_dir, credentials),
        )
        counter = DatabaseConnectionCounter(database.url, database.application_name or "")
        services = ServiceCpu(None, database.url, database.application_name, counter)
        for repetition in range(1, args.repetitions + 1):
            for name in names:
                variant = scenario.variant(name)
                variant_env = dict(env)
                if variant.settings_module:
                    variant_env["DJANGO_SETTINGS_MODULE"] = variant.settings_module
                # The facets are cached (by the project's selectors): every server start
                # begins with a cache of its own, warmed by nothing but its own requests.
                variant_env["CACHE_KEY_PREFIX"] = f"p2p-bench-{token}-{repetition}-{name}"
                with Server(
                    variant, cpu=args.server_cpu, env=variant_env, log_dir=log_dir
                ) as server:
                    start, variant_runs = run_variant(
                        scenario,
                        server,
                        loads,
                        args,
                        repetition,
                        open_model,
                        credentials,
                        expected,
                        counter,
                        services,
                    )
                starts.append(start)
                runs += variant_runs
    except (ServerError, LoadError, prepare.DatabaseError) as error:
        _progress(f"benchmark aborted: {error}\nlogs kept in {log_dir}")
        return 1
    except KeyboardInterrupt:
        _progress(f"interrupted; logs kept in {log_dir}")
        return 130
    finally:
        if counter is not None:
            counter.close()
        if services is not None:
            services.close()
    if args.keep_logs:
        _progress(f"logs kept in {log_dir}")
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    if not args.keep_database:
        prepare.drop_postgres(args.postgres_url, args.postgres_database)

    summary = summarize(scenario, runs, names, loads)
    results = {
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "kind": scenario.kind,
            "kinds": [
                {
                    "name": kind.name,
                    "description": kind.description,
                    "paths": [kind.path(index) for index in range(len(kind.variants))],
                }
                for kind in QUERY_KINDS
            ],
            "targets": [vars(target) for target in scenario.targets],
        },
        "started_at": started_at,
        "finished_at": runner._now(),
        "wall_time_s": round(time.monotonic() - started, 1),
        "settings": {
            "repetitions": args.repetitions,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "timeout_s": args.timeout,
            "server_cpu": args.server_cpu,
            "loadgen_cpu": args.loadgen_cpu,
            "open_files_limit": open_files,
            "loads": [load.as_dict() for load in loads],
            "arrival": args.arrival,
            "max_connections": args.max_connections,
            "use_cases": args.use_cases,
            "page_size": PAGE_SIZE,
            "order": "for each repetition, for each variant (fresh server): probe of every "
            "kind, warm-up, rates ascending",
            "requests": "request i of a run is kind i mod 6 (in the order of the kinds), a new "
            "connection each, Connection: close, the viewer's session cookie",
        },
        "environment": {
            "database": "postgresql",
            "database_created": "postgres",
            "database_name": args.postgres_database,
            "database_reused": reused,
            "database_kept": args.keep_database,
            "database_application_name": database.application_name if database else None,
            "redis": bool(env.get("REDIS_URL", "").strip()),
            "host": HOST,
        },
        "data": database.seed if database else None,
        "matched": {name: entry["counts"] for name, entry in (profile or {}).items()},
        "profile": profile,
        "machine": {**runner.describe_machine(), "load_average_at_start": load_at_start},
        "code": runner.describe_code(),
        "variants": {
            name: {
                "description": scenario.variant(name).description,
                "command": scenario.variant(name).command("PORT"),
                "settings_module": scenario.variant(name).settings_module,
            }
            for name in names
        },
        "summary": summary,
        "targets": judge(scenario, summary),
        "server_starts": starts,
        "runs": runs,
    }
    output = args.output or runner.RESULTS_DIR / f"{scenario.name}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results), flush=True)
    _progress(f"results written to {output} ({results['wall_time_s']} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--profile"]:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p2p_sandbox.settings")
        import django

        django.setup()
        print(RESULT_PREFIX + json.dumps(profile_kinds(argv[1])), flush=True)
        return 0
    for name in argv:
        with open(name) as results:
            print(table(json.load(results)))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
