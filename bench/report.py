"""Medians, paired ratios and the stdout table, computed from the list of runs."""

import statistics
from collections.abc import Iterable
from typing import Any

from bench.loadgen import ERROR_KINDS
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


def _number(value: float | None, *, width: int) -> str:
    if value is None:
        return "-".rjust(width)
    if value >= 100:
        return f"{value:{width}.0f}"
    if value >= 10:
        return f"{value:{width}.1f}"
    return f"{value:{width}.2f}"


def _count(value: float | None, *, width: int) -> str:
    return ("-" if value is None else f"{value:g}").rjust(width)


def _percent(share: float | None, *, width: int) -> str:
    return ("-" if share is None else f"{share * 100:.0f}").rjust(width)


def _columns(row: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(heading, width, cell) of one table row."""
    latency = row["latency_ms"]
    errors = row["errors_total"]
    rss = row["peak_rss_total_kb"]
    return [
        ("req/s", 8, _number(row["requests_per_s"], width=8)),
        *((f"{key} ms", 8, _number(latency[key], width=8)) for key in LATENCY_COLUMNS),
        ("cpu ms/req", 10, _number(row["server_cpu_ms_per_request"], width=10)),
        ("rss MB", 7, _number(rss / 1024 if rss is not None else None, width=7)),
        ("db", 3, _count(row["peak_db_connections"], width=3)),
        ("other%", 6, _percent(row["server_core_other_share"], width=6)),
        ("gen%", 4, _percent(row["generator_cpu_share"], width=4)),
        ("genoth%", 7, _percent(row["loadgen_core_other_share"], width=7)),
        ("conn", 5, _count(errors["connect"], width=5)),
        ("read", 5, _count(errors["read"], width=5)),
        ("write", 5, _count(errors["write"], width=5)),
        ("tmout", 5, _count(errors["timeout"], width=5)),
        ("non2xx", 6, _count(errors["non_2xx"], width=6)),
        ("noresp", 6, _count(row["no_response_connections_total"], width=6)),
        ("lsnovf", 6, _count(row["tcp_total"]["listen_overflows"], width=6)),
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


def table(results: dict[str, Any]) -> str:
    scenario = results["scenario"]
    settings = results["settings"]
    lines = [
        f"scenario {scenario['name']}: {scenario['description']}",
        f"{settings['repetitions']} repetitions x {settings['duration_s']} s per run, variants "
        f"interleaved; server on CPU {settings['server_cpu']}, load generator on CPU "
        f"{settings['loadgen_cpu']}; database {results['environment']['database']}",
        LEGEND,
    ]
    for block in results["summary"]:
        load = Load(block["load"]["connections"], block["load"]["rate"])
        lines += ["", f"{load.label} ({load.kind} loop)"]
        for index, (name, row) in enumerate(block["variants"].items()):
            columns = _columns(row)
            if index == 0:
                lines.append(
                    f"{'variant':<16} " + " ".join(f"{head:>{width}}" for head, width, _ in columns)
                )
            lines.append(f"{name:<16} " + " ".join(cell for _, _, cell in columns))
        if block["ratios"]:
            lines.append(
                "ratios of req/s (median of the per-repetition ratios; '-': the denominator "
                "answered nothing):"
            )
            for ratio in block["ratios"]:
                value = "-" if ratio["median"] is None else f"{ratio['median']:.2f}x"
                spread = ", ".join(
                    "-" if value is None else f"{value:.2f}" for value in ratio["per_repetition"]
                )
                lines.append(f"  {ratio['label']:<34} {value:>7}   ({spread})")
    return "\n".join(lines)
