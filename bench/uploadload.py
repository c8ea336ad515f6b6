"""Open-model generator of media uploads: multipart POSTs at a fixed rate (bench/upload.py).

    python -m bench.uploadload --url http://127.0.0.1:8000 --credentials credentials.json \
        --images /tmp/images --rate 2 --duration 30 --first 0

Upload i (counted from `--first`, across the whole benchmark) is sent by author i mod N (N: the
authors of the credentials file, each with a personal API token) to that author's draft number
(i div N) div 10, so a draft gets at most 10 files (`Media.MAX_PER_USE_CASE`), and carries the
image i mod K of `--images` (JPEG files) as the multipart field `files`. The timing is
bench/openloop.py's: request i is due at start + i / rate, on a new connection, latency from the
due time; the head is built per request and the body (one per image) is shared.

Prints `BENCH_RESULT {...}`: openloop's figures plus, per upload, its number, due time (Unix),
latency, status and the ids of the media the 201 answered, so the runner can follow each one to
`ready` in the database.
"""

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from bench.openloop import OpenLoop, Request, build_head, schedule, target

RESULT_PREFIX = "BENCH_RESULT "
MEDIA_PER_USE_CASE = 10
BOUNDARY = "p2p-bench-upload-boundary-7c1d"


def multipart_body(name: str, data: bytes) -> bytes:
    return (
        (
            f"--{BOUNDARY}\r\n"
            f'Content-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def slot(number: int, authors: int) -> tuple[int, int]:
    """(author index, index of the draft in the credentials' list) of upload `number`: drafts
    are listed draft-major (draft k of every author, then draft k + 1)."""
    author = number % authors
    draft = (number // authors) // MEDIA_PER_USE_CASE
    return author, draft * authors + author


def media_ids(body: bytes | None) -> list[int]:
    try:
        document = json.loads(body or b"")
    except ValueError:
        return []
    if not isinstance(document, list):
        return []
    return [item["id"] for item in document if isinstance(item, dict) and "id" in item]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.uploadload", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--credentials", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True, help="a directory of JPEG files")
    parser.add_argument("--rate", type=float, required=True, help="uploads per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds of sending")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--max-connections", type=int, default=1000)
    parser.add_argument("--arrival", choices=("uniform", "poisson"), default="uniform")
    parser.add_argument("--first", type=int, default=0, help="number of the first upload")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or args.timeout <= 0 or args.max_connections < 1:
        parser.error("--rate, --duration, --timeout and --max-connections must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    host, port, _path = target(args.url)
    credentials = json.loads(args.credentials.read_text())
    authors, drafts = credentials["authors"], credentials["use_cases"]
    images = sorted(args.images.glob("*.jpg"))
    if not images:
        raise SystemExit(f"no .jpg files in {args.images}")
    bodies = [multipart_body(image.name, image.read_bytes()) for image in images]
    offsets = schedule(args.rate, args.duration, args.arrival, args.first)
    requests, numbers = [], []
    for index in range(len(offsets)):
        number = args.first + index
        author, draft = slot(number, len(authors))
        if draft >= len(drafts):
            raise SystemExit(f"upload {number} needs draft {draft}: seed more drafts")
        body = bodies[number % len(bodies)]
        head = build_head(
            "POST",
            host,
            port,
            f"/api/v1/use-cases/{drafts[draft]['id']}/media",
            {
                "Authorization": f"Bearer {authors[author]['token']}",
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            },
            len(body),
        )
        requests.append(Request("upload", (head, body)))
        numbers.append(number)
    loop = OpenLoop(args, host, port, offsets, requests, keep_bodies=True)

    async def run() -> tuple[dict[str, object], float]:
        # Unix time = loop time + this offset (the runner compares due times with processed_at).
        wall_offset = time.time() - asyncio.get_running_loop().time()
        return await loop.run(), wall_offset

    result, wall_offset = asyncio.run(run())
    result["uploads"] = [
        {
            "number": number,
            "due_unix": round(outcome.scheduled + wall_offset, 6),
            "latency_ms": None if outcome.latency_s is None else round(outcome.latency_s * 1000, 3),
            "status": outcome.status,
            "error": outcome.error,
            "media_ids": media_ids(outcome.body) if outcome.status == 201 else [],
        }
        for number, outcome in zip(numbers, loop.outcomes, strict=True)
    ]
    result["upload_bytes"] = [len(body) for body in bodies]
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
