"""The sync WSGI baseline of the use-case scenarios: the project's settings and middleware (with
bench/servers/media_settings.py's media directory and queue), the library list and the media
upload as sync views (bench/servers/sync_usecases_urls.py)."""

from bench.servers.media_settings import *  # noqa: F403

ROOT_URLCONF = "bench.servers.sync_usecases_urls"
WSGI_APPLICATION = "bench.servers.sync_usecases_wsgi.application"
