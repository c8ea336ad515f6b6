"""The project's settings for the use-case benchmarks, with two things moved out of the way:
uploaded files go to `BENCH_MEDIA_ROOT` (the run's temporary directory, local file storage)
instead of the repository's `media/`, and Celery's default queue is `BENCH_CELERY_QUEUE` (the
run's own, so a task left in the broker by another run is never taken). Everything else is the
project's, read from the same environment."""

import os

from p2p_sandbox.settings import *  # noqa: F403

if os.environ.get("BENCH_MEDIA_ROOT"):
    MEDIA_ROOT = os.environ["BENCH_MEDIA_ROOT"]
if os.environ.get("BENCH_CELERY_QUEUE"):
    CELERY_TASK_DEFAULT_QUEUE = os.environ["BENCH_CELERY_QUEUE"]
