"""Settings for the Celery workers of the worker-fault test: the test settings, with a media
storage that holds a processing run half-way (after the re-encoded image is written), so the
test can kill the worker in the middle of it. Only used by processes that test starts."""

import os
import threading
from pathlib import Path
from typing import Any

from django.core.files.storage import FileSystemStorage

from p2p_sandbox.settings_test import *  # noqa: F403

HOLD_MARKER = Path(os.environ["FAULT_HOLD_MARKER"])


class HoldingStorage(FileSystemStorage):
    """Writes like FileSystemStorage; after writing a small thumbnail it marks the moment and
    waits (for the SIGKILL)."""

    def _save(self, name: str, content: Any) -> str:
        saved = super()._save(name, content)
        if saved.endswith("-320.webp"):
            HOLD_MARKER.write_text(saved)
            threading.Event().wait()
        return saved


STORAGES = {
    **STORAGES,  # noqa: F405
    "default": {"BACKEND": "p2p_sandbox.tests.worker_fault_settings.HoldingStorage"},
}
