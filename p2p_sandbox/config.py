"""Settings built from environment variables.

Each function takes the environment as a mapping and returns plain setting values, so the
switch between the embedded default (no servers) and production services can be tested
without reloading Django. `settings.py` calls them with `os.environ`.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off", ""}


def env_bool(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = env.get(name)
    if value is None:
        return default
    normalized = value.strip().lower()
    if normalized in TRUE_VALUES:
        return True
    if normalized in FALSE_VALUES:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off.")


def env_list(env: Mapping[str, str], name: str, default: list[str]) -> list[str]:
    value = env.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None


def secret_key(env: Mapping[str, str], *, debug: bool, dev_key_file: Path) -> str:
    """SECRET_KEY from the environment; in DEBUG a key generated once and kept in a local file.

    The key is persisted (not regenerated per process) so that sessions survive a restart and
    tokens signed by a worker validate in the web process.
    """
    key = env.get("SECRET_KEY", "").strip()
    if key:
        return key
    if not debug:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable to a long random "
            "string (for example: python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DEBUG=1 for local development."
        )
    if dev_key_file.exists():
        return dev_key_file.read_text().strip()
    from django.core.management.utils import get_random_secret_key

    key = get_random_secret_key()
    dev_key_file.write_text(key)
    dev_key_file.chmod(0o600)
    return key


def databases(env: Mapping[str, str], *, sqlite_path: Path) -> dict[str, Any]:
    url = env.get("DATABASE_URL", "").strip()
    if not url or url.startswith("sqlite:"):
        name = dj_database_url.parse(url)["NAME"] if url else str(sqlite_path)
        return {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": name,
                # IMMEDIATE takes the write lock at BEGIN, so concurrent writers wait instead
                # of failing with "database is locked" mid-transaction.
                "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
            }
        }
    config = dj_database_url.parse(url, conn_max_age=0)
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// (or sqlite:///) URL.")
    # Under ASGI each request may run in a different thread: persistent connections leak, so
    # connections come from psycopg's pool instead (Django's native pool support).
    config["CONN_MAX_AGE"] = 0
    config["CONN_HEALTH_CHECKS"] = False
    config.setdefault("OPTIONS", {})["pool"] = {
        "min_size": env_int(env, "DATABASE_POOL_MIN_SIZE", 2),
        "max_size": env_int(env, "DATABASE_POOL_MAX_SIZE", 10),
        "timeout": env_int(env, "DATABASE_POOL_TIMEOUT", 10),
    }
    return {"default": config}


def channel_layers(env: Mapping[str, str]) -> dict[str, Any]:
    redis_url = env.get("REDIS_URL", "").strip()
    if not redis_url:
        return {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout by default, which cuts the layer's
                # 5 s blocking BZPOPMIN short and drops idle sockets: allow longer reads.
                # After Redis restarts, the pool's connections are dead without knowing it
                # (redis-py does not retry by default): each command retries once, at once, on a
                # fresh connection.
                "hosts": [
                    {
                        "address": redis_url,
                        "socket_timeout": 15,
                        "retry": Retry(NoBackoff(), 1, (RedisConnectionError,)),
                    }
                ],
                "prefix": env.get("CHANNEL_LAYER_PREFIX", "p2p:asgi"),
                "capacity": 1500,
                "expiry": 60,
            },
        }
    }


def caches(env: Mapping[str, str]) -> dict[str, Any]:
    redis_url = env.get("REDIS_URL", "").strip()
    if not redis_url:
        return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": env.get("CACHE_KEY_PREFIX", "p2p"),
        }
    }


def celery(env: Mapping[str, str]) -> dict[str, Any]:
    """Celery settings (read by the Celery app with the CELERY_ namespace)."""
    redis_url = env.get("REDIS_URL", "").strip()
    broker_url = env.get("CELERY_BROKER_URL", "").strip() or redis_url
    return {
        "CELERY_BROKER_URL": broker_url or "memory://",
        # With no broker the embedded default runs tasks in-process when they are queued.
        "CELERY_TASK_ALWAYS_EAGER": not broker_url,
        "CELERY_TASK_EAGER_PROPAGATES": True,
    }


def storages(env: Mapping[str, str]) -> dict[str, Any]:
    static_backend = {"BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"}
    bucket = env.get("MEDIA_S3_BUCKET", "").strip()
    if not bucket:
        return {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": static_backend,
        }
    options: dict[str, Any] = {
        "bucket_name": bucket,
        # Media is private by default: files are reached through short-lived signed URLs.
        "default_acl": None,
        "querystring_auth": True,
        "querystring_expire": env_int(env, "MEDIA_URL_EXPIRY_SECONDS", 300),
        "signature_version": "s3v4",
        "file_overwrite": False,
    }
    optional = {
        "region_name": "AWS_S3_REGION_NAME",
        "endpoint_url": "AWS_S3_ENDPOINT_URL",
        "custom_domain": "AWS_S3_CUSTOM_DOMAIN",
        "access_key": "AWS_ACCESS_KEY_ID",
        "secret_key": "AWS_SECRET_ACCESS_KEY",
    }
    options.update({option: env[name] for option, name in optional.items() if env.get(name)})
    return {
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
        "staticfiles": static_backend,
    }


def email(env: Mapping[str, str]) -> dict[str, Any]:
    """MAILERS from Django's EMAIL_* variables: SMTP when EMAIL_HOST is set, else the console."""
    host = env.get("EMAIL_HOST", "").strip()
    backend = env.get("EMAIL_BACKEND", "").strip()
    if not backend:
        backend = (
            "django.core.mail.backends.smtp.EmailBackend"
            if host
            else "django.core.mail.backends.console.EmailBackend"
        )
    options: dict[str, Any] = {}
    if backend == "django.core.mail.backends.smtp.EmailBackend":
        options = {
            "host": host or "localhost",
            "port": env_int(env, "EMAIL_PORT", 25),
            "username": env.get("EMAIL_HOST_USER", ""),
            "password": env.get("EMAIL_HOST_PASSWORD", ""),
            "use_tls": env_bool(env, "EMAIL_USE_TLS"),
            "use_ssl": env_bool(env, "EMAIL_USE_SSL"),
            "timeout": env_int(env, "EMAIL_TIMEOUT", 10),
        }
    return {
        "MAILERS": {"default": {"BACKEND": backend, "OPTIONS": options}},
        "DEFAULT_FROM_EMAIL": env.get("DEFAULT_FROM_EMAIL", "P2P Sandbox <no-reply@localhost>"),
        "SERVER_EMAIL": env.get("SERVER_EMAIL", "P2P Sandbox <errors@localhost>"),
    }


RATE_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# What each kind of request may do by default (per person; "anonymous": per address).
DEFAULT_RATE_LIMITS = {
    "writes": "30/m,300/h",
    "searches": "60/m",
    "frames": "120/m",
    "anonymous": "60/m,600/h",
}


def parse_rates(name: str, value: str) -> tuple[tuple[int, int], ...]:
    """ "30/m,300/h" -> ((30, 60), (300, 3600)): (requests, seconds) pairs; "" -> no limit."""
    rates = []
    for item in value.split(","):
        if not item.strip():
            continue
        count, _, unit = item.strip().partition("/")
        if not count.isdigit() or int(count) < 1 or unit not in RATE_PERIODS:
            raise ImproperlyConfigured(
                f"{name} must be rates like 30/m,300/h (units s, m, h, d), not {value!r}."
            )
        rates.append((int(count), RATE_PERIODS[unit]))
    return tuple(sorted(rates, key=lambda rate: rate[1]))


def rate_limits(env: Mapping[str, str]) -> dict[str, tuple[tuple[int, int], ...]]:
    """RATE_LIMIT_WRITES, _SEARCHES, _FRAMES and _ANONYMOUS, shortest period first."""
    return {
        scope: parse_rates(
            f"RATE_LIMIT_{scope.upper()}", env.get(f"RATE_LIMIT_{scope.upper()}", default)
        )
        for scope, default in DEFAULT_RATE_LIMITS.items()
    }
