"""The sync WSGI baseline: the project's settings and middleware, with a sync `/health` view."""

from p2p_sandbox.settings import *  # noqa: F403

ROOT_URLCONF = "bench.servers.sync_urls"
WSGI_APPLICATION = "bench.servers.sync_wsgi.application"
