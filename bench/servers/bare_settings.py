"""The bare Django baseline: the project's settings with no middleware and one async view."""

from p2p_sandbox.settings import *  # noqa: F403

MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.servers.bare_urls"
ASGI_APPLICATION = "bench.servers.bare_asgi.application"
