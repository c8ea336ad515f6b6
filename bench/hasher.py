"""The cost of the production password hasher, beside the login figures.

    taskset --cpu-list 0 python -m bench.hasher --repeat 20

With the project's settings (PASSWORD_HASHERS, so Argon2 with Django's parameters), hashes one
password with `make_password`, checks it once to warm up, then times `check_password` --repeat
times: wall time and the process's CPU time (Argon2's lanes run in threads; pinned to one core,
they share it as a server's would). Run by bench/run.py pinned to the server's CPU while no
server runs; prints one line `BENCH_RESULT {...}`.
"""

import argparse
import json
import os
import statistics
import sys
import time

RESULT_PREFIX = "BENCH_RESULT "
PASSWORD = "Bench-Hasher-Probe-2026"  # noqa: S105


def measure(repeat: int) -> dict[str, object]:
    from django.contrib.auth.hashers import check_password, get_hasher, make_password

    hasher = get_hasher()
    wall = time.perf_counter()
    cpu = time.process_time()
    encoded = make_password(PASSWORD)
    make_wall_ms = (time.perf_counter() - wall) * 1000
    make_cpu_ms = (time.process_time() - cpu) * 1000
    if not check_password(PASSWORD, encoded):
        raise SystemExit("check_password refused the password it just hashed")
    wall_ms, cpu_ms = [], []
    for _ in range(repeat):
        wall = time.perf_counter()
        cpu = time.process_time()
        check_password(PASSWORD, encoded)
        wall_ms.append((time.perf_counter() - wall) * 1000)
        cpu_ms.append((time.process_time() - cpu) * 1000)
    decoded = hasher.decode(encoded)
    parameters = {
        key: decoded[key]
        for key in ("variety", "version", "memory_cost", "time_cost", "parallelism", "iterations")
        if key in decoded
    }
    return {
        "hasher": f"{type(hasher).__module__}.{type(hasher).__qualname__}",
        "algorithm": hasher.algorithm,
        "parameters": parameters,
        "repeat": repeat,
        "check_wall_ms": [round(value, 3) for value in wall_ms],
        "check_cpu_ms": [round(value, 3) for value in cpu_ms],
        "check_wall_ms_median": round(statistics.median(wall_ms), 3),
        "check_cpu_ms_median": round(statistics.median(cpu_ms), 3),
        "make_password_wall_ms": round(make_wall_ms, 3),
        "make_password_cpu_ms": round(make_cpu_ms, 3),
        "cpus": sorted(os.sched_getaffinity(0)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hasher", description=__doc__)
    parser.add_argument("--repeat", type=int, default=20, help="timed checks (default 20)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p2p_sandbox.settings")
    import django

    django.setup()
    print(RESULT_PREFIX + json.dumps(measure(args.repeat)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
