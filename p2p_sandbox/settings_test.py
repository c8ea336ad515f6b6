"""Settings for the test suite: production settings plus what only tests need.

DATABASE_URL and REDIS_URL still decide the backends, so the same suite runs on the embedded
default and on real PostgreSQL and Redis.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-any-deployment-0123456789")
# Far above what any test does (the servers tests start inherit them): the tests of the limits
# set their own.
os.environ.setdefault("RATE_LIMIT_WRITES", "100000/m")
os.environ.setdefault("RATE_LIMIT_SEARCHES", "100000/m")
os.environ.setdefault("RATE_LIMIT_FRAMES", "100000/m")
os.environ.setdefault("RATE_LIMIT_ANONYMOUS", "100000/m")

from p2p_sandbox import config
from p2p_sandbox.settings import *  # noqa: F403

# A file, not memory, so that servers and workers started by tests share the test database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}  # noqa: F405

# Tasks run in-process when queued; the tests that need a real worker start one themselves. A
# server a test starts queues on the broker instead with TEST_CELERY_EAGER=0.
CELERY_TASK_ALWAYS_EAGER = config.env_bool(os.environ, "TEST_CELERY_EAGER", default=True)
# Set here, not by the test runner: the WebSocket origin check reads it when asgi.py is imported.
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
# Test requests and the servers tests start use plain http.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# Hashing with Argon2 on every user a factory creates would dominate the suite's time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Static files straight from the source folders: the suite does not run collectstatic.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SERVESTATIC_USE_MANIFEST = False
SERVESTATIC_USE_FINDERS = True

# Counts are asserted right after the writes that change them; the test of the facet cache
# turns it on.
USECASES_FACETS_CACHE_SECONDS = 0

# Uploads of a test run go to a folder of the run's own, shared with the servers and workers it
# starts (they inherit the variable), never to the project's media folder. The process that made
# the folder removes it at the end of the run (conftest.py).
TEST_MEDIA_ROOT_OWNED = "TEST_MEDIA_ROOT" not in os.environ
if TEST_MEDIA_ROOT_OWNED:
    os.environ["TEST_MEDIA_ROOT"] = tempfile.mkdtemp(prefix="p2p-test-media-")
MEDIA_ROOT = Path(os.environ["TEST_MEDIA_ROOT"])
