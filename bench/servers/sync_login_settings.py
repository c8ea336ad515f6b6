"""The sync WSGI baseline of the login and sign-up scenarios: the project's settings and
middleware, with the same endpoints as sync views (bench/servers/sync_login_urls.py)."""

from p2p_sandbox.settings import *  # noqa: F403

ROOT_URLCONF = "bench.servers.sync_login_urls"
WSGI_APPLICATION = "bench.servers.sync_login_wsgi.application"
