"""The sync WSGI baseline of the authread scenario: the project's settings and middleware, with
the same read as a sync view (bench/servers/sync_read_urls.py)."""

from p2p_sandbox.settings import *  # noqa: F403

ROOT_URLCONF = "bench.servers.sync_read_urls"
WSGI_APPLICATION = "bench.servers.sync_read_wsgi.application"
