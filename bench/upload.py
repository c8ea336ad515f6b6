"""The `usecases_upload` scenario: media uploads with processing by a real Celery worker (see
bench/README.md).

    REDIS_URL=redis://127.0.0.1:6379/14 python -m bench.run --scenario usecases_upload \
        --postgres-database p2p_bench_uc
    python -m bench.upload bench/results/usecases_upload.json   # print a results file again

Run by bench/run.py. Before the repetitions: a PostgreSQL database of the run's own, migrated,
and `python -m bench.seed --upload-authors N --upload-use-cases M` (authors with drafts enough
for every upload of the benchmark, and a personal API token each); a few JPEG photos made with
Pillow (1-2 MB, 3000 x 2000, with EXIF: camera, date and GPS position). Files are stored on the
local disk, in the run's temporary directory (bench/servers/media_settings.py). For each
repetition, for each variant in turn (A B A B ...):

1. a fresh server pinned to the server CPU, checked on GET /health, and a fresh Celery worker
   (`celery -A p2p_sandbox worker`, the queue of the run's own, `--worker-concurrency`
   processes) pinned to `--worker-cpu` (by default the load generator's: the generator sends a
   few requests a second and idles);
2. the probe: one upload, checked (201, one pending image of the right type and size), followed
   to `ready` in the database, and its processed file checked on disk (no EXIF left, the WebP
   thumbnails within 320 and 1280 px, the dimensions recorded);
3. a warm-up at the lowest rate, its processing waited for;
4. each rate in ascending order: bench/uploadload.py (pinned to the load generator's CPU) sends
   the uploads at the rate while bench/monitor.py samples the server; then the runner polls the
   database until every accepted upload's media is processed (or the drain limit) while a
   second monitor samples the worker.
"""

import argparse
import io
import json
import math
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bench import prepare
from bench import run as runner
from bench.loadgen import LoadError, latency_summary
from bench.messaging import ServiceCpu
from bench.monitor import DatabaseConnectionCounter, Monitor, wait_until_idle
from bench.report import format_count, format_number, format_percent
from bench.scenarios import BIN, HOST, Load, Scenario, Variant
from bench.server import ROOT, Server, ServerError, _terminate_with_runner
from bench.uploadload import MEDIA_PER_USE_CASE

RESULT_PREFIX = "BENCH_RESULT "
IMAGES = 4
IMAGE_SIZE = (3000, 2000)
JPEG_QUALITY = 90
THUMBNAIL_SIDES = {"small": 320, "large": 1280}
WORKER_APPLICATION_NAME = "p2p-bench-worker"
MEDIA_SETTINGS = "bench.servers.media_settings"
POLL_S = 0.25
# After the last upload of a run, processing is waited for at least this long (and longer
# while media still become ready: up to the run's duration again).
DRAIN_MIN_S = 60.0
WORKER_START_TIMEOUT_S = 60.0
LATENCY_KEYS = ("p50", "p95", "p99", "max")


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def median(values: Iterable[float | None]) -> float | None:
    present = sorted(value for value in values if value is not None)
    if not present:
        return None
    middle = len(present) // 2
    return present[middle] if len(present) % 2 else (present[middle - 1] + present[middle]) / 2


# The photos


def make_images(directory: Path, count: int = IMAGES) -> list[dict[str, Any]]:
    """`count` JPEG photos, always the same: 3000 x 2000, noisy enough to weigh 1-2 MB at
    quality 90, with the EXIF a phone writes (camera, date, GPS position) that processing must
    remove."""
    from PIL import ExifTags, Image, ImageDraw, ImageFilter

    directory.mkdir(parents=True, exist_ok=True)
    described = []
    width, height = IMAGE_SIZE
    for index in range(count):
        generator = random.Random(index)
        base = Image.linear_gradient("L").resize(IMAGE_SIZE)
        noise = Image.effect_noise(IMAGE_SIZE, 45 + 5 * index).filter(ImageFilter.GaussianBlur(0.8))
        image = Image.merge(
            "RGB", (base.rotate(generator.randint(0, 90)), noise, base.transpose(0))
        )
        draw = ImageDraw.Draw(image)
        for _ in range(40):
            x, y = generator.randrange(width), generator.randrange(height)
            draw.rectangle(
                [x, y, x + generator.randrange(50, 600), y + generator.randrange(50, 400)],
                fill=tuple(generator.randrange(256) for _ in range(3)),
            )
        exif = Image.Exif()
        exif[ExifTags.Base.Make] = "BenchCam"
        exif[ExifTags.Base.Model] = "Line Inspector 7"
        exif[ExifTags.Base.Orientation] = 1
        exif[ExifTags.Base.DateTime] = "2026:01:15 09:30:00"
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps[ExifTags.GPS.GPSLatitudeRef] = "N"
        gps[ExifTags.GPS.GPSLatitude] = (27.0, 0.0, 16.0)
        gps[ExifTags.GPS.GPSLongitudeRef] = "E"
        gps[ExifTags.GPS.GPSLongitude] = (49.0, 38.0, 45.0)
        output = io.BytesIO()
        image.save(output, "JPEG", quality=JPEG_QUALITY, exif=exif)
        path = directory / f"press-line-{index}.jpg"
        path.write_bytes(output.getvalue())
        described.append({"name": path.name, "bytes": len(output.getvalue())})
    return described


# Data


def uploads_needed(args: argparse.Namespace, loads: list[Load], variants: int) -> int:
    per_start = 1 + math.ceil((loads[0].rate or 1) * args.warmup)
    per_start += sum(math.ceil((load.rate or 1) * args.duration) for load in loads)
    return per_start * variants * args.repetitions


def seed_authors(
    env: dict[str, str], log_dir: Path, authors: int, uploads: int
) -> tuple[dict[str, Any], Path]:
    """Authors and enough drafts for `uploads` uploads (10 to a draft), one token each."""
    per_author = math.ceil(uploads / authors / MEDIA_PER_USE_CASE) + 1
    path = log_dir / "credentials.json"
    command = [
        sys.executable,
        "-m",
        "bench.seed",
        f"--upload-authors={authors}",
        f"--upload-use-cases={per_author}",
        f"--sessions-file={path}",
    ]
    output = prepare._run(command, env, log_dir / "prepare.log", "bench.seed")
    return prepare._result(output, "bench.seed"), path


class MediaRows:
    """Reads the media rows of the run's database (status, processed_at) and its files."""

    def __init__(self, database_url: str, media_root: Path) -> None:
        import psycopg

        self.connection = psycopg.connect(
            database_url, autocommit=True, application_name="p2p-bench-monitor"
        )
        self.media_root = media_root

    def rows(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        found = self.connection.execute(
            "SELECT id, status, extract(epoch FROM processed_at), failure_reason, width, height,"
            " file, thumbnail_small, thumbnail_large, size_bytes"
            " FROM usecases_media WHERE id = ANY(%s)",
            (ids,),
        ).fetchall()
        keys = (
            "status",
            "processed_unix",
            "failure_reason",
            "width",
            "height",
            "file",
            "thumbnail_small",
            "thumbnail_large",
            "size_bytes",
        )
        rows = {row[0]: dict(zip(keys, row[1:], strict=True)) for row in found}
        for row in rows.values():
            if row["processed_unix"] is not None:
                row["processed_unix"] = float(row["processed_unix"])
        return rows

    def wait(self, ids: list[int], *, limit_s: float, quiet_s: float) -> dict[int, dict[str, Any]]:
        """Poll until none of `ids` is pending, or `limit_s` passed, or nothing was processed
        for `quiet_s` (the worker has stopped: what is left is lost)."""
        started = last_change = time.monotonic()
        done = -1
        while True:
            rows = self.rows(ids)
            finished = sum(1 for row in rows.values() if row["status"] != "pending")
            now = time.monotonic()
            if finished != done:
                done, last_change = finished, now
            if finished == len(ids) or now - started > limit_s or now - last_change > quiet_s:
                return rows
            time.sleep(POLL_S)

    def close(self) -> None:
        self.connection.close()


def check_processed(row: dict[str, Any], media_root: Path, image: dict[str, Any]) -> str | None:
    """What is wrong with a processed image (or None): ready, the dimensions recorded, the file
    re-encoded without EXIF, both thumbnails WebP within their sides."""
    from PIL import Image

    if row["status"] != "ready":
        return f"status {row['status']} ({row['failure_reason']})"
    if (row["width"], row["height"]) != IMAGE_SIZE:
        return f"dimensions {row['width']} x {row['height']}, expected {IMAGE_SIZE}"
    try:
        with Image.open(media_root / row["file"]) as processed:
            if processed.format != "JPEG" or processed.size != IMAGE_SIZE:
                return f"the processed file is a {processed.format} of {processed.size}"
            if len(processed.getexif()):
                return f"the processed file still has EXIF: {dict(processed.getexif())}"
        for variant, side in THUMBNAIL_SIDES.items():
            name = row[f"thumbnail_{variant}"]
            if not name:
                return f"no {variant} thumbnail"
            with Image.open(media_root / name) as thumbnail:
                if thumbnail.format != "WEBP" or max(thumbnail.size) > side:
                    return f"the {variant} thumbnail is a {thumbnail.format} of {thumbnail.size}"
    except OSError as error:
        return f"cannot read the processed files: {error}"
    if row["size_bytes"] == image["bytes"]:
        return "the size is the upload's: the file was not re-encoded"
    return None


# The worker


def worker_variant(queue: str, concurrency: int) -> Variant:
    return Variant(
        "celery-worker",
        f"celery -A p2p_sandbox worker, queue {queue}, {concurrency} prefork process(es)",
        lambda _port: [
            str(BIN / "celery"),
            "-A",
            "p2p_sandbox",
            "worker",
            "--queues",
            queue,
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            f"{queue}@%h",
        ],
        MEDIA_SETTINGS,
    )


# The generator


class UploadGenerator:
    def __init__(self, args: argparse.Namespace, credentials: Path, images: Path) -> None:
        self.args = args
        self.credentials = credentials
        self.images = images
        self.next_upload = 0

    def run(self, url: str, rate: float, duration: float) -> dict[str, Any]:
        args = self.args
        command = [
            "taskset",
            "--cpu-list",
            str(args.loadgen_cpu),
            sys.executable,
            "-m",
            "bench.uploadload",
            f"--url={url}",
            f"--credentials={self.credentials}",
            f"--images={self.images}",
            f"--rate={rate:g}",
            f"--duration={duration}",
            f"--timeout={args.timeout}",
            f"--max-connections={args.max_connections}",
            f"--arrival={args.arrival}",
            f"--first={self.next_upload}",
        ]
        children = os.times()
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=duration + args.timeout + 120,
            check=False,
            cwd=ROOT,
            preexec_fn=_terminate_with_runner,
        )
        after = os.times()
        cpu_seconds = (after.children_user - children.children_user) + (
            after.children_system - children.children_system
        )
        lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        if completed.returncode != 0 or not lines:
            raise LoadError(
                f"the upload generator failed ({completed.returncode}): "
                f"{completed.stderr.strip()[-2000:]}"
            )
        report = json.loads(lines[-1].removeprefix(RESULT_PREFIX))
        self.next_upload += report["scheduled"]
        report["cpu_seconds"] = round(cpu_seconds, 3)
        report["cpu_share"] = (
            round(cpu_seconds / report["elapsed_s"], 3) if report["elapsed_s"] else None
        )
        return report


# One server start


def _probe(
    server: Server,
    generator: UploadGenerator,
    rows: MediaRows,
    images: list[dict[str, Any]],
    worker: Server,
) -> dict[str, Any]:
    report = generator.run(server.url(""), 1.0, 1.0)
    upload = report["uploads"][0]
    if upload["status"] != 201 or len(upload["media_ids"]) != 1:
        raise ServerError(
            f"{server.variant.name}: the probe upload answered {upload['status']} "
            f"({upload['error']}), media {upload['media_ids']}\n{server.log_tail()}"
        )
    (media_id,) = upload["media_ids"]
    row = rows.wait([media_id], limit_s=WORKER_START_TIMEOUT_S, quiet_s=WORKER_START_TIMEOUT_S)[
        media_id
    ]
    image = images[upload["number"] % len(images)]
    problem = check_processed(row, rows.media_root, image)
    if problem is not None:
        raise ServerError(
            f"{server.variant.name}: the probe upload's media {media_id}: {problem}\n"
            f"worker log:\n{worker.log_tail()}"
        )
    return {
        "media_id": media_id,
        "upload_ms": upload["latency_ms"],
        "ready_ms": round((row["processed_unix"] - upload["due_unix"]) * 1000, 1),
    }


def _measure(
    generator: UploadGenerator,
    server: Server,
    worker: Server,
    rows: MediaRows,
    rate: float,
    duration: float,
    args: argparse.Namespace,
    counter: DatabaseConnectionCounter | None,
    services: ServiceCpu,
) -> dict[str, Any]:
    """One run: the uploads at `rate`, then their processing, each side monitored."""
    settle_s = wait_until_idle(server.pid, timeout=60.0)
    wait_until_idle(worker.pid, timeout=60.0)
    server_monitor = Monitor(
        server.pid, server_cpu=args.server_cpu, loadgen_cpu=args.loadgen_cpu, database=counter
    )
    worker_monitor = Monitor(worker.pid, server_cpu=args.worker_cpu, loadgen_cpu=args.loadgen_cpu)
    services.start()
    worker_monitor.start()
    server_monitor.start()
    started_at = runner._now()
    try:
        report = generator.run(server.url(""), rate, duration)
    finally:
        server_usage = server_monitor.stop()
        service_cpu = services.stop()
    try:
        ids = [media for upload in report["uploads"] for media in upload["media_ids"]]
        limit = max(DRAIN_MIN_S, float(duration))
        media = rows.wait(ids, limit_s=limit, quiet_s=limit) if ids else {}
    finally:
        worker_usage = worker_monitor.stop()
    for process, name in ((server, "server"), (worker, "worker")):
        if process.process is not None and process.process.poll() is not None:
            raise ServerError(f"the {name} died during the run:\n{process.log_tail()}")
    return {
        "started_at": started_at,
        "settle_s": round(settle_s, 2),
        "result": report,
        "media": {str(media_id): row for media_id, row in media.items()},
        "server": server_usage.as_dict(),
        "worker": worker_usage.as_dict(),
        "services": service_cpu,
    }


def figures(record: dict[str, Any]) -> dict[str, Any]:
    """A run's figures: the uploads (latency, accepted/s, errors) and their processing (time to
    ready from the due time and from the 201, processed/s, worker CPU per image)."""
    report = record["result"]
    uploads = report["uploads"]
    media = record["media"]
    accepted = [upload for upload in uploads if upload["status"] == 201]
    errors: Counter[str] = Counter()
    for upload in uploads:
        if upload["error"]:
            errors[upload["error"]] += 1
        elif upload["status"] != 201:
            errors[f"http_{upload['status']}"] += 1
    to_ready, after_response = [], []
    states: Counter[str] = Counter()
    processed_at = []
    for upload in accepted:
        for media_id in upload["media_ids"]:
            row = media.get(str(media_id))
            states[row["status"] if row else "missing"] += 1
            if row and row["status"] == "ready" and row["processed_unix"] is not None:
                processed = float(row["processed_unix"])
                processed_at.append(processed)
                to_ready.append((processed - upload["due_unix"]) * 1000)
                after_response.append(
                    (processed - upload["due_unix"]) * 1000 - (upload["latency_ms"] or 0)
                )
    first_due = min((upload["due_unix"] for upload in uploads), default=None)
    span = max(processed_at) - first_due if processed_at and first_due is not None else None
    worker_cpu = record["worker"]["cpu_seconds"]
    server_requests = len([upload for upload in uploads if upload["status"] is not None])
    return {
        "scheduled": report["scheduled"],
        "accepted": len(accepted),
        "accepted_per_s": round(len(accepted) / report["duration_s"], 3)
        if report["duration_s"]
        else None,
        "errors": dict(errors),
        "upload_ms": latency_summary(
            [upload["latency_ms"] for upload in uploads if upload["latency_ms"] is not None]
        ),
        "upload_latencies_ms": [
            upload["latency_ms"] for upload in uploads if upload["latency_ms"] is not None
        ],
        "ready": states.get("ready", 0),
        "failed": states.get("failed", 0),
        "pending": states.get("pending", 0) + states.get("missing", 0),
        "to_ready_ms": latency_summary(to_ready),
        "to_ready_latencies_ms": [round(value, 1) for value in to_ready],
        "after_response_ms": latency_summary(after_response),
        # From the first due time to the last media processed: the arrival rate while the
        # worker keeps up, its capacity when it does not.
        "processed_per_s": round(len(processed_at) / span, 3) if span else None,
        "worker_cpu_ms_per_image": round(worker_cpu * 1000 / len(processed_at), 1)
        if processed_at
        else None,
        "server_cpu_ms_per_upload": round(
            record["server"]["cpu_seconds"] * 1000 / server_requests, 1
        )
        if server_requests
        else None,
        "postgres_cpu_ms_per_upload": round(
            record["services"]["postgres_backend_cpu_seconds"] * 1000 / server_requests, 1
        )
        if server_requests and record["services"]["postgres_backend_cpu_seconds"] is not None
        else None,
        "server_rss_kb": record["server"]["peak_rss_total_kb"],
        "worker_rss_kb": record["worker"]["peak_rss_total_kb"],
        "db_connections": record["server"]["peak_db_connections"],
        "server_core_other_share": record["server"]["server_core_other_share"],
        "worker_core_other_share": record["worker"]["server_core_other_share"],
        "generator_cpu_share": report["cpu_share"],
        "max_send_lag_ms": report["max_send_lag_ms"],
    }


def run_variant(
    scenario: Scenario,
    server: Server,
    worker: Server,
    loads: list[Load],
    args: argparse.Namespace,
    repetition: int,
    generator: UploadGenerator,
    rows: MediaRows,
    images: list[dict[str, Any]],
    counter: DatabaseConnectionCounter | None,
    services: ServiceCpu,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    start_s = server.wait_ready(scenario)
    probe = _probe(server, generator, rows, images, worker)
    _progress(
        f"  rep {repetition} {server.variant.name:<15} probe: upload {probe['upload_ms']:.0f} ms,"
        f" ready {probe['ready_ms']:.0f} ms after it was sent, EXIF gone, thumbnails made"
    )
    warmup = None
    if args.warmup:
        record = _measure(
            generator,
            server,
            worker,
            rows,
            loads[0].rate or 1.0,
            args.warmup,
            args,
            counter,
            services,
        )
        warmup = {key: figures(record)[key] for key in ("scheduled", "accepted", "ready")}
    runs = []
    for load in loads:
        assert load.rate is not None
        record = _measure(
            generator, server, worker, rows, load.rate, args.duration, args, counter, services
        )
        run = {
            "repetition": repetition,
            "variant": server.variant.name,
            "load": load.as_dict(),
            **record,
            "figures": figures(record),
        }
        runs.append(run)
        found = run["figures"]
        _progress(
            f"  rep {repetition} {server.variant.name:<15} rate {load.rate:g}/s  "
            f"{found['accepted']}/{found['scheduled']} accepted  upload p95 "
            f"{format_number(found['upload_ms']['p95'], width=1)} ms  ready p95 "
            f"{format_number(found['to_ready_ms']['p95'], width=1)} ms  "
            f"{format_number(found['processed_per_s'], width=1)} images/s  worker "
            f"{format_number(found['worker_cpu_ms_per_image'], width=1)} ms/image, "
            f"{found['worker_rss_kb'] / 1024:.0f} MB  pending {found['pending']}  failed "
            f"{found['failed']}  errors {sum(found['errors'].values())}"
        )
    start = {
        "repetition": repetition,
        "variant": server.variant.name,
        "server_command": server.command,
        "worker_command": worker.command,
        "server_start_s": round(start_s, 2),
        "probe": probe,
        "warmup": warmup,
    }
    return start, runs


# Summary and table

SUMMED = ("scheduled", "accepted", "ready", "failed", "pending")
MEDIANS = (
    "accepted_per_s",
    "processed_per_s",
    "worker_cpu_ms_per_image",
    "server_cpu_ms_per_upload",
    "postgres_cpu_ms_per_upload",
    "server_rss_kb",
    "worker_rss_kb",
    "db_connections",
    "server_core_other_share",
    "worker_core_other_share",
    "generator_cpu_share",
)


def summarize(
    scenario: Scenario, runs: list[dict[str, Any]], variants: list[str], loads: list[Load]
) -> list[dict[str, Any]]:
    blocks = []
    for load in loads:
        load_runs = [run for run in runs if run["load"] == load.as_dict()]
        by_variant = {}
        for name in variants:
            these = [run["figures"] for run in load_runs if run["variant"] == name]
            if not these:
                continue
            errors: Counter[str] = Counter()
            for found in these:
                errors.update(found["errors"])
            by_variant[name] = {
                "repetitions": len(these),
                **{f"{key}_total": sum(found[key] for found in these) for key in SUMMED},
                **{key: median(found[key] for found in these) for key in MEDIANS},
                "errors_total": dict(errors),
                "upload_ms": {
                    key: median(found["upload_ms"][key] for found in these) for key in LATENCY_KEYS
                },
                "upload_ms_pooled": latency_summary(
                    [value for found in these for value in found["upload_latencies_ms"]]
                ),
                "to_ready_ms": {
                    key: median(found["to_ready_ms"][key] for found in these)
                    for key in LATENCY_KEYS
                },
                "to_ready_ms_pooled": latency_summary(
                    [value for found in these for value in found["to_ready_latencies_ms"]]
                ),
                "after_response_ms": {
                    key: median(found["after_response_ms"][key] for found in these)
                    for key in ("p50", "p95")
                },
                "max_send_lag_ms": max(found["max_send_lag_ms"] for found in these),
            }
        ratios = []
        for ratio in scenario.ratios:
            if ratio.numerator not in by_variant or ratio.denominator not in by_variant:
                continue
            per_repetition: dict[str, list[float | None]] = {
                "accepted_per_s": [],
                "upload_p50": [],
                "upload_p95": [],
                "ready_p95": [],
            }
            for repetition in sorted({run["repetition"] for run in load_runs}):
                pair = {
                    run["variant"]: run["figures"]
                    for run in load_runs
                    if run["repetition"] == repetition
                }
                if ratio.numerator not in pair or ratio.denominator not in pair:
                    continue
                top, bottom = pair[ratio.numerator], pair[ratio.denominator]
                for key, (a, b) in {
                    "accepted_per_s": (top["accepted_per_s"], bottom["accepted_per_s"]),
                    "upload_p50": (top["upload_ms"]["p50"], bottom["upload_ms"]["p50"]),
                    "upload_p95": (top["upload_ms"]["p95"], bottom["upload_ms"]["p95"]),
                    "ready_p95": (top["to_ready_ms"]["p95"], bottom["to_ready_ms"]["p95"]),
                }.items():
                    per_repetition[key].append(round(a / b, 3) if a is not None and b else None)
            ratios.append(
                {
                    "label": ratio.label,
                    "numerator": ratio.numerator,
                    "denominator": ratio.denominator,
                    "median": {key: median(values) for key, values in per_repetition.items()},
                    "per_repetition": per_repetition,
                }
            )
        blocks.append({"load": load.as_dict(), "variants": by_variant, "ratios": ratios})
    return blocks


LEGEND = """\
Open model: uploads (one JPEG each, multipart, a personal API token) at a fixed rate from the
authors in turn, each on a new connection; upload latency from the scheduled send time to the
201; ready: from the scheduled send time to the media's processed_at (the worker's clock, read
from the database), and from the 201 (after). Cells: median over the repetitions; sent, ok,
ready, failed, pending and err summed.
  ok/s        uploads accepted (201) per second    upload ms  p50 p95 p99 of the upload
  ready ms    p50 p95 max to ready                 after p95  ready after the 201
  img/s       processed per second, from the first upload to the last processed (the rate while
              the worker keeps up, its capacity when it falls behind)
  wk ms/img   worker CPU per image (what one worker core can do: 1000 / this)
  srv ms      server CPU per upload   pg ms  CPU of the server's PostgreSQL backends per upload
  srv MB wk MB  peak RSS of the server and of the worker (parent and children)
  db          the server's peak database connections   gen%  the generator's CPU use
  pending     accepted but not processed when the runner stopped waiting"""


def table(results: dict[str, Any]) -> str:
    scenario = results["scenario"]
    settings = results["settings"]
    data = results.get("data") or {}
    images = results.get("images") or []
    lines = [
        f"scenario {scenario['name']}: {scenario['description']}",
        f"{settings['repetitions']} repetitions x {settings['duration_s']} s per rate, variants "
        f"interleaved; server on CPU {settings['server_cpu']}, generator on CPU "
        f"{settings['loadgen_cpu']}, worker ({settings['worker_concurrency']} process) on CPU "
        f"{settings['worker_cpu']}; PostgreSQL (created for the run); broker Redis; "
        f"storage: local files ({settings['storage']})",
    ]
    if data:
        lines.append(
            f"data: {data['authors']} authors ({data['emails']}), {data['drafts']} drafts; "
            f"{len(images)} photos {IMAGE_SIZE[0]} x {IMAGE_SIZE[1]}, "
            + ", ".join(f"{image['bytes'] / 1e6:.2f}" for image in images)
            + " MB, with EXIF"
        )
    lines.append(LEGEND)
    for block in results["summary"]:
        lines += [
            "",
            f"rate {block['load']['rate']:g} uploads/s for {settings['duration_s']} s "
            f"({settings['arrival']} arrivals, timeout {settings['timeout_s']} s)",
            f"{'variant':<16} {'sent':>5} {'ok':>5} {'ok/s':>5} "
            + " ".join(f"{'upload ' + key:>10}" for key in ("p50", "p95", "p99"))
            + " "
            + " ".join(f"{'ready ' + key:>9}" for key in ("p50", "p95", "max"))
            + f" {'after p95':>9} {'img/s':>5} {'wk ms/img':>9} {'srv ms':>6} {'pg ms':>5} "
            f"{'srv MB':>6} {'wk MB':>5} {'db':>3} {'gen%':>4} {'pending':>7} {'failed':>6} "
            f"{'err':>4}",
        ]
        for name, row in block["variants"].items():
            upload, ready = row["upload_ms_pooled"], row["to_ready_ms_pooled"]
            errors = ", ".join(f"{key} x{count}" for key, count in row["errors_total"].items())
            lines.append(
                f"{name:<16} {format_count(row['scheduled_total'], width=5)} "
                f"{format_count(row['accepted_total'], width=5)} "
                f"{format_number(row['accepted_per_s'], width=5)} "
                + " ".join(format_number(upload[key], width=10) for key in ("p50", "p95", "p99"))
                + " "
                + " ".join(format_number(ready[key], width=9) for key in ("p50", "p95", "max"))
                + f" {format_number(row['after_response_ms']['p95'], width=9)}"
                f" {format_number(row['processed_per_s'], width=5)}"
                f" {format_number(row['worker_cpu_ms_per_image'], width=9)}"
                f" {format_number(row['server_cpu_ms_per_upload'], width=6)}"
                f" {format_number(row['postgres_cpu_ms_per_upload'], width=5)}"
                f" {format_number(_mb(row['server_rss_kb']), width=6)}"
                f" {format_number(_mb(row['worker_rss_kb']), width=5)}"
                f" {format_count(row['db_connections'], width=3)}"
                f" {format_percent(row['generator_cpu_share'], width=4)}"
                f" {format_count(row['pending_total'], width=7)}"
                f" {format_count(row['failed_total'], width=6)}"
                f" {format_count(sum(row['errors_total'].values()), width=4)}"
                + (f"  {errors}" if errors else "")
            )
        for ratio in block["ratios"]:
            cells = []
            for key, label in (
                ("accepted_per_s", "ok/s"),
                ("upload_p50", "upload p50"),
                ("upload_p95", "upload p95"),
                ("ready_p95", "ready p95"),
            ):
                value = ratio["median"][key]
                spread = ", ".join(
                    "-" if item is None else f"{item:.2f}" for item in ratio["per_repetition"][key]
                )
                cells.append(f"{label} {'-' if value is None else f'{value:.2f}x'} ({spread})")
            lines.append(f"ratio {ratio['label']}: " + "   ".join(cells))
    lines += ["", "  (upload and ready latencies: all the repetitions' uploads together)"]
    return "\n".join(lines)


def _mb(kb: float | None) -> float | None:
    return None if kb is None else kb / 1024


# The flow


def run_scenario(scenario: Scenario, args: argparse.Namespace) -> int:
    """`args` has the scenario's defaults applied (bench/run.py)."""
    redis_url = os.environ.get("REDIS_URL", "").strip()
    if not redis_url:
        _progress(
            f"{scenario.name} needs REDIS_URL (Celery's broker), e.g. redis://127.0.0.1:6379/14"
        )
        return 1
    if (args.database or scenario.database) != "postgres":
        _progress(f"{scenario.name} runs on PostgreSQL only")
        return 1
    if args.worker_cpu is None:
        args.worker_cpu = args.loadgen_cpu
    loads = runner.loads_for(scenario, args)
    names = runner.variant_names(scenario, args)
    open_files = runner.raise_open_files_limit(2 * args.max_connections + 1024)
    started_at = runner._now()
    started = time.monotonic()
    load_at_start = os.getloadavg()
    log_dir = Path(tempfile.mkdtemp(prefix=f"p2p-bench-{scenario.name}-"))
    media_root = log_dir / "media"
    media_root.mkdir()
    token = secrets.token_hex(3)
    queue = f"p2p-bench-upload-{token}"
    _progress(
        f"{scenario.name}: {len(names)} variants x {len(loads)} rates x {args.repetitions} "
        f"repetitions x {args.duration} s, {args.users} authors; logs and media in {log_dir}"
    )
    env = runner.server_environment("", scenario.unset_env)
    env["BENCH_MEDIA_ROOT"] = str(media_root)
    env["BENCH_CELERY_QUEUE"] = queue
    env["CHANNEL_LAYER_PREFIX"] = f"p2p-bench-{token}:asgi"
    starts: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    counter = services = rows = database = None
    images: list[dict[str, Any]] = []
    try:
        database = runner.prepare_database(scenario, args, log_dir, env)
        env["DATABASE_URL"] = database.url
        needed = uploads_needed(args, loads, len(names))
        database.seed, credentials = seed_authors(env, log_dir, args.users, needed)
        _progress(
            f"seeded {database.seed['authors']} authors with {database.seed['drafts']} drafts "
            f"({needed} uploads planned) in {database.seed['seconds']} s"
        )
        images = make_images(log_dir / "images")
        _progress(
            f"made {len(images)} photos: "
            + ", ".join(f"{image['bytes'] / 1e6:.2f} MB" for image in images)
        )
        worker_env = dict(env)
        worker_env["DJANGO_SETTINGS_MODULE"] = MEDIA_SETTINGS
        # Its own application_name: the `db` column counts the server's connections only.
        worker_env["DATABASE_URL"] = with_application_name(database.url, WORKER_APPLICATION_NAME)
        if database.application_name is not None:
            counter = DatabaseConnectionCounter(database.url, database.application_name)
        services = ServiceCpu(None, database.url, database.application_name, counter)
        rows = MediaRows(database.url, media_root)
        generator = UploadGenerator(args, credentials, log_dir / "images")
        for repetition in range(1, args.repetitions + 1):
            for name in names:
                variant = scenario.variant(name)
                variant_env = dict(env)
                if variant.settings_module:
                    variant_env["DJANGO_SETTINGS_MODULE"] = variant.settings_module
                # Nothing left queued by the previous start (a run whose processing the runner
                # stopped waiting for) is processed during this one.
                _delete_queue(redis_url, queue)
                with (
                    Server(
                        worker_variant(queue, args.worker_concurrency),
                        cpu=args.worker_cpu,
                        env=worker_env,
                        log_dir=log_dir,
                    ) as worker,
                    Server(
                        variant, cpu=args.server_cpu, env=variant_env, log_dir=log_dir
                    ) as server,
                ):
                    start, variant_runs = run_variant(
                        scenario,
                        server,
                        worker,
                        loads,
                        args,
                        repetition,
                        generator,
                        rows,
                        images,
                        counter,
                        services,
                    )
                starts.append(start)
                runs += variant_runs
    except (ServerError, LoadError, prepare.DatabaseError) as error:
        _progress(f"benchmark aborted: {error}\nlogs (and media) kept in {log_dir}")
        return 1
    except KeyboardInterrupt:
        _progress(f"interrupted; logs (and media) kept in {log_dir}")
        return 130
    finally:
        for resource in (counter, services, rows):
            if resource is not None:
                resource.close()
        _delete_queue(redis_url, queue)
    if args.keep_logs:
        _progress(f"logs and media kept in {log_dir}")
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    if database.created == "postgres":
        prepare.drop_postgres(args.postgres_url, args.postgres_database)

    summary = summarize(scenario, runs, names, loads)
    results = {
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "kind": scenario.kind,
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
            "worker_cpu": args.worker_cpu,
            "worker_concurrency": args.worker_concurrency,
            "open_files_limit": open_files,
            "loads": [load.as_dict() for load in loads],
            "arrival": args.arrival,
            "max_connections": args.max_connections,
            "authors": args.users,
            "storage": "FileSystemStorage in the run's temporary directory",
            "queue": queue,
            "order": "for each repetition, for each variant (fresh server and worker): probe "
            "(followed to ready), warm-up, rates ascending, each followed by its processing",
            "uploads": "upload i: author i mod N, that author's draft (i div N) div 10, photo "
            "i mod K; one file each, multipart field `files`, Authorization: Bearer",
        },
        "environment": {
            "database": database.kind,
            "database_created": database.created,
            "database_name": args.postgres_database,
            "database_application_name": database.application_name,
            "worker_database_application_name": WORKER_APPLICATION_NAME,
            "redis": True,
            "channel_layer_prefix": env["CHANNEL_LAYER_PREFIX"],
            "host": HOST,
        },
        "data": database.seed,
        "images": images,
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
        "worker": {
            "command": worker_variant(queue, args.worker_concurrency).command("PORT"),
            "settings_module": MEDIA_SETTINGS,
        },
        "summary": summary,
        "server_starts": starts,
        "runs": runs,
    }
    output = args.output or runner.RESULTS_DIR / f"{scenario.name}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results), flush=True)
    _progress(f"results written to {output} ({results['wall_time_s']} s)")
    return 0


def with_application_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query["application_name"] = name
    return urlunsplit(parts._replace(query=urlencode(query)))


def _delete_queue(redis_url: str, queue: str) -> None:
    """The run's queue (tasks left by an aborted run) goes with it."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(queue)
    except redis.RedisError:
        pass
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    for name in argv if argv is not None else sys.argv[1:]:
        with open(name) as results:
            print(table(json.load(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
