"""Settings of the channel-layer echo baseline (bench/servers/channels_echo.py): no apps, no
database, no middleware; only the project's channel layer, built from the same environment
(REDIS_URL, CHANNEL_LAYER_PREFIX) by the same function as the project's settings."""

import os

from p2p_sandbox import config

SECRET_KEY = os.environ.get("SECRET_KEY", "bench-echo-not-secret")
DEBUG = False
ALLOWED_HOSTS = config.env_list(os.environ, "ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, object] = {}
USE_TZ = True
CHANNEL_LAYERS = config.channel_layers(os.environ)
