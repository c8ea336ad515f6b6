"""Medians, paired ratios and the stdout table, computed from the list of runs.

`python -m bench.report bench/results/login.json` prints the table of a results file again.
"""

import json
import statistics
import sys
from collections.abc import Iterable
from typing import Any

from bench.loadgen import ERROR_KINDS, latency_summary
from bench.scenarios import Load, Scenario

LATENCY_COLUMNS = ("p50", "p95", "p99", "max")


def _median(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def _cpu_ms_per_request(run: dict[str, Any]) -> float | None:
    requests = run["result"]["requests"]
    return run["server"]["cpu_seconds"] * 1000 / requests if requests else None


def _loadgen_core_other_share(run: dict[str, Any]) -> float | None:
    wrk_share = run["result"]["generator"].get("cpu_share")
    if wrk_share is None:
        return None
    return max(0.0, run["server"]["loadgen_core_busy_share"] - wrk_share)


def _open_model_totals(results: list[dict[str, Any]]) -> dict[str, Any]:
    """What the open-model generator adds: requests sent, answers by status, the latency
    percentiles of all the repetitions' responses together, and the generator's own lag."""
    generators = [result["generator"] for result in results]
    statuses: dict[str, int] = {}
    for generator in generators:
        for status, count in generator["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    pooled = [latency for generator in generators for latency in generator["latencies_ms"]]
    return {
        "requests_scheduled_total": sum(generator["scheduled"] for generator in generators),
        "statuses_total": dict(sorted(statuses.items())),
        "latency_ms_pooled": latency_summary(pooled),
        "max_send_lag_ms": max(generator["max_send_lag_ms"] for generator in generators),
        "peak_open_connections": max(
            generator["peak_open_connections"] for generator in generators
        ),
    }


def summarize(
    scenario: Scenario, runs: list[dict[str, Any]], variants: list[str], loads: list[Load]
) -> list[dict[str, Any]]:
    """Per load: each variant's medians over the repetitions (errors summed), then the ratios.

    A ratio is computed within each repetition (two variants run a minute or two apart at most)
    and the median of those is reported, so drift of the machine between repetitions cancels out.
    """
    summary = []
    for load in loads:
        load_runs = [run for run in runs if run["load"] == load.as_dict()]
        by_variant: dict[str, dict[str, Any]] = {}
        for name in variants:
            variant_runs = [run for run in load_runs if run["variant"] == name]
            if not variant_runs:
                continue
            results = [run["result"] for run in variant_runs]
            servers = [run["server"] for run in variant_runs]
            by_variant[name] = {
                "repetitions": len(variant_runs),
                "requests_per_s": _median(result["requests_per_s"] for result in results),
                "latency_ms": {
                    key: _median(result["latency_ms"][key] for result in results)
                    for key in results[0]["latency_ms"]
                },
                "errors_total": {
                    kind: sum(result["errors"][kind] for result in results) for kind in ERROR_KINDS
                },
                "no_response_connections_total": sum(
                    result["no_response_connections"] for result in results
                ),
                "tcp_total": {
                    key: sum(server["tcp"].get(key, 0) for server in servers)
                    for key in servers[0]["tcp"]
                },
                "requests_total": sum(result["requests"] for result in results),
                "generator_cpu_share": _median(
                    result["generator"].get("cpu_share") for result in results
                ),
                "server_cpu_ms_per_request": _median(_cpu_ms_per_request(r) for r in variant_runs),
                "loadgen_core_other_share": _median(
                    _loadgen_core_other_share(run) for run in variant_runs
                ),
                "peak_rss_total_kb": _median(server["peak_rss_total_kb"] for server in servers),
                "server_processes": _median(len(server["processes"]) for server in servers),
                "peak_db_connections": _median(server["peak_db_connections"] for server in servers),
                **{
                    key: _median(server[key] for server in servers)
                    for key in (
                        "server_core_other_share",
                        "server_core_steal_share",
                        "loadgen_core_busy_share",
                    )
                },
            }
            if load.rate is not None:
                by_variant[name].update(_open_model_totals(results))
        ratios = []
        for ratio in scenario.ratios:
            if ratio.numerator not in by_variant or ratio.denominator not in by_variant:
                continue
            rates = {
                name: {
                    run["repetition"]: run["result"]["requests_per_s"]
                    for run in load_runs
                    if run["variant"] == name
                }
                for name in (ratio.numerator, ratio.denominator)
            }
            # None where the denominator answered nothing in that repetition.
            paired = [
                round(rate / rates[ratio.denominator][repetition], 3)
                if rates[ratio.denominator][repetition]
                else None
                for repetition, rate in sorted(rates[ratio.numerator].items())
                if repetition in rates[ratio.denominator]
            ]
            defined = [value for value in paired if value is not None]
            ratios.append(
                {
                    "label": ratio.label,
                    "metric": "requests_per_s",
                    "numerator": ratio.numerator,
                    "denominator": ratio.denominator,
                    "median": round(statistics.median(defined), 3) if defined else None,
                    "per_repetition": paired,
                }
            )
        summary.append({"load": load.as_dict(), "variants": by_variant, "ratios": ratios})
    return summary


def format_number(value: float | None, *, width: int) -> str:
    if value is None:
        return "-".rjust(width)
    if value >= 100:
        return f"{value:{width}.0f}"
    if value >= 10:
        return f"{value:{width}.1f}"
    return f"{value:{width}.2f}"


def format_count(value: float | None, *, width: int) -> str:
    return ("-" if value is None else f"{value:g}").rjust(width)


def format_percent(share: float | None, *, width: int) -> str:
    return ("-" if share is None else f"{share * 100:.0f}").rjust(width)


def _open_columns(row: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(heading, width, cell) of one open-model table row."""
    latency = row["latency_ms"]
    errors = row["errors_total"]
    rss = row["peak_rss_total_kb"]
    return [
        ("sent", 5, format_count(row["requests_scheduled_total"], width=5)),
        ("done/s", 7, format_number(row["requests_per_s"], width=7)),
        *((f"{key} ms", 8, format_number(latency[key], width=8)) for key in LATENCY_COLUMNS),
        ("cpu ms/req", 10, format_number(row["server_cpu_ms_per_request"], width=10)),
        ("rss MB", 7, format_number(rss / 1024 if rss is not None else None, width=7)),
        ("db", 3, format_count(row["peak_db_connections"], width=3)),
        ("open", 4, format_count(row["peak_open_connections"], width=4)),
        ("other%", 6, format_percent(row["server_core_other_share"], width=6)),
        ("gen%", 4, format_percent(row["generator_cpu_share"], width=4)),
        ("genoth%", 7, format_percent(row["loadgen_core_other_share"], width=7)),
        ("lag ms", 6, format_number(row["max_send_lag_ms"], width=6)),
        ("conn", 5, format_count(errors["connect"], width=5)),
        ("read", 5, format_count(errors["read"], width=5)),
        ("write", 5, format_count(errors["write"], width=5)),
        ("tmout", 5, format_count(errors["timeout"], width=5)),
        ("non2xx", 6, format_count(errors["non_2xx"], width=6)),
        ("lsnovf", 6, format_count(row["tcp_total"]["listen_overflows"], width=6)),
    ]


def _columns(row: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(heading, width, cell) of one table row."""
    latency = row["latency_ms"]
    errors = row["errors_total"]
    rss = row["peak_rss_total_kb"]
    return [
        ("req/s", 8, format_number(row["requests_per_s"], width=8)),
        *((f"{key} ms", 8, format_number(latency[key], width=8)) for key in LATENCY_COLUMNS),
        ("cpu ms/req", 10, format_number(row["server_cpu_ms_per_request"], width=10)),
        ("rss MB", 7, format_number(rss / 1024 if rss is not None else None, width=7)),
        ("db", 3, format_count(row["peak_db_connections"], width=3)),
        ("other%", 6, format_percent(row["server_core_other_share"], width=6)),
        ("gen%", 4, format_percent(row["generator_cpu_share"], width=4)),
        ("genoth%", 7, format_percent(row["loadgen_core_other_share"], width=7)),
        ("conn", 5, format_count(errors["connect"], width=5)),
        ("read", 5, format_count(errors["read"], width=5)),
        ("write", 5, format_count(errors["write"], width=5)),
        ("tmout", 5, format_count(errors["timeout"], width=5)),
        ("non2xx", 6, format_count(errors["non_2xx"], width=6)),
        ("noresp", 6, format_count(row["no_response_connections_total"], width=6)),
        ("lsnovf", 6, format_count(row["tcp_total"]["listen_overflows"], width=6)),
    ]


LEGEND = """\
Each cell is the median over the repetitions; conn to lsnovf are summed over them.
  cpu ms/req  server CPU time per response      rss MB  peak RSS of the server's process tree
  db          peak database connections (PostgreSQL only; '-' otherwise)
  other%      share of the server's CPU used by anything but the server (noise)
  gen%        the load generator's own CPU use (near 100: the generator limited the run)
  genoth%     share of the load generator's CPU used by anything but it (noise)
  conn read write tmout   wrk's socket errors; tmout = responses slower than the timeout
  non2xx      responses outside 2xx
  noresp      connections that got no response in the whole run (at least: connections - responses)
  lsnovf      SYNs the kernel dropped because a listen queue was full (each delays a connect
              by >= 1 s, seen in no latency figure; counted for the whole machine)
  '-' in a latency column: no response arrived during the run"""

OPEN_LEGEND = """\
Open model: requests sent at a fixed rate, each on a new connection; latency from the scheduled
send time to the end of the response. Each cell is the median over the repetitions; sent and
conn to lsnovf are summed over them.
  sent        requests due in the runs (rate x duration, per repetition)
  done/s      responses per second, from the first due time to the last response (below the
              rate: the server could not keep up)
  cpu ms/req  server CPU time per response (at overload it includes work on requests that
              timed out, so it overstates)
  rss MB      peak RSS of the server's process tree   db  peak database connections (PostgreSQL)
  open        most connections open at once (requests in flight)
  other%      share of the server's CPU used by anything but the server (noise)
  gen% genoth%  the generator's CPU use, and other use of its CPU (noise)
  lag ms      the generator's worst delay in sending a request after its due time
  conn read write   connection errors; tmout: no answer within the timeout (not in latency)
  non2xx      responses outside 2xx (by status in the line below the row)
  lsnovf      SYNs dropped because a listen queue was full (whole machine)"""


def _hasher_lines(hasher: list[dict[str, Any]], blocks: list[dict[str, Any]]) -> list[str]:
    """The password hasher's cost, beside the server's CPU per request at each rate."""
    first = hasher[0]
    parameters = " ".join(f"{key}={value}" for key, value in first["parameters"].items())
    wall = _median(value for entry in hasher for value in entry["check_wall_ms"])
    cpu = _median(value for entry in hasher for value in entry["check_cpu_ms"])
    per_repetition = ", ".join(f"{entry['check_wall_ms_median']:.0f}" for entry in hasher)
    count = sum(len(entry["check_wall_ms"]) for entry in hasher)
    lines = [
        "",
        f"password hasher: {first['hasher']} ({parameters})",
        f"  one check_password on the server CPU: {format_number(wall, width=1)} ms wall, "
        f"{format_number(cpu, width=1)} ms CPU (median of {count}; "
        f"per repetition {per_repetition} ms"
        f"); one make_password: {first['make_password_wall_ms']:.0f} ms",
    ]
    if cpu:
        for block in blocks:
            load = Load(block["load"]["connections"], block["load"]["rate"])
            for name, row in block["variants"].items():
                per_request = row["server_cpu_ms_per_request"]
                failed = sum(row["errors_total"].values())
                if failed:
                    # The server also worked on requests that were never answered, or answered
                    # an error: CPU per response is not the cost of one request.
                    lines.append(
                        f"  {load.label:<10} {name:<16} {failed} requests failed (see the "
                        "errors): CPU per response is not the cost of one"
                    )
                elif per_request:
                    lines.append(
                        f"  {load.label:<10} {name:<16} server CPU {per_request:6.0f} ms per "
                        f"request, of which one hash {cpu:.0f} ms = {cpu / per_request:4.0%}; "
                        f"one core serves at most ~{1000 / per_request:.1f}/s"
                    )
    return lines


def _target_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    for target in results["scenario"].get("targets", []):
        for block in results["summary"]:
            row = block["variants"].get(target["variant"])
            if block["load"]["rate"] != target["rate"] or row is None:
                continue
            value = row["latency_ms"][target["percentile"]]
            pooled = row["latency_ms_pooled"][target["percentile"]]
            errors = sum(row["errors_total"].values())
            met = value is not None and value < target["limit_ms"] and errors == 0
            lines.append(
                f"target {target['label']}: {target['variant']} {target['percentile']} "
                f"{format_number(value, width=1)} ms (median of the runs; all responses together "
                f"{format_number(pooled, width=1)} ms), {errors} errors: "
                + ("met" if met else "NOT met")
            )
    return lines


def table(results: dict[str, Any]) -> str:
    scenario = results["scenario"]
    settings = results["settings"]
    environment = results["environment"]
    open_model = any(load["rate"] is not None for load in settings["loads"])
    database = environment["database"]
    if environment.get("database_created"):
        database += f" (created for the run{'' if not results.get('data') else ', seeded'})"
    lines = [
        f"scenario {scenario['name']}: {scenario['description']}",
        f"{settings['repetitions']} repetitions x {settings['duration_s']} s per run, variants "
        f"interleaved; server on CPU {settings['server_cpu']}, load generator on CPU "
        f"{settings['loadgen_cpu']}; database {database}",
    ]
    if results.get("data"):
        data = results["data"]
        if "api_tokens" in data:
            lines.append(
                f"data: one verified user ({data['email']}) with a session and an API token; "
                f"{scenario['path']} answers {data['expected_body_bytes']} bytes "
                f"({data['categories']} categories)"
            )
        else:
            lines.append(
                f"data: {data['users']} users ({data['emails']}), one {data['hasher']} hash for all"
            )
    lines.append(OPEN_LEGEND if open_model else LEGEND)
    # The variant column: as wide as the longest name.
    width = max([16, *(len(name) for block in results["summary"] for name in block["variants"])])
    for block in results["summary"]:
        load = Load(block["load"]["connections"], block["load"]["rate"])
        heading = f"{load.label} ({load.kind} loop)"
        if load.rate is not None:
            heading = (
                f"rate {load.rate:g}/s for {settings['duration_s']} s ({settings['arrival']} "
                f"arrivals, at most {load.connections} in flight, "
                f"timeout {settings['timeout_s']} s)"
            )
        lines += ["", heading]
        for index, (name, row) in enumerate(block["variants"].items()):
            columns = _open_columns(row) if load.rate is not None else _columns(row)
            if index == 0:
                lines.append(
                    f"{'variant':<{width}} "
                    + " ".join(f"{head:>{cell_width}}" for head, cell_width, _ in columns)
                )
            lines.append(f"{name:<{width}} " + " ".join(cell for _, _, cell in columns))
            if load.rate is not None:
                pooled = row["latency_ms_pooled"]
                statuses = ", ".join(
                    f"{status} x{count}" for status, count in row["statuses_total"].items()
                )
                lines.append(
                    f"{'':<{width}} all {sum(row['statuses_total'].values())} responses together: "
                    + " ".join(
                        f"{key} {format_number(pooled[key], width=1)}" for key in LATENCY_COLUMNS
                    )
                    + f" ms; statuses: {statuses or 'none'}"
                )
        if block["ratios"]:
            lines.append(
                f"ratios of {'req/s' if load.rate is None else 'done/s'} (median of the "
                "per-repetition ratios; '-': the denominator answered nothing):"
            )
            for ratio in block["ratios"]:
                value = "-" if ratio["median"] is None else f"{ratio['median']:.2f}x"
                spread = ", ".join(
                    "-" if value is None else f"{value:.2f}" for value in ratio["per_repetition"]
                )
                label_width = max(34, *(len(r["label"]) for r in block["ratios"]))
                lines.append(f"  {ratio['label']:<{label_width}} {value:>7}   ({spread})")
    if results.get("hasher"):
        lines += _hasher_lines(results["hasher"], results["summary"])
    targets = _target_lines(results)
    if targets:
        lines += ["", *targets]
    return "\n".join(lines)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        with open(name) as results:
            print(table(json.load(results)))
