import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from p2p_sandbox import config

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    for name in ("SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"):
        clean.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_databases_default_is_sqlite(tmp_path: Path) -> None:
    databases = config.databases({}, sqlite_path=tmp_path / "db.sqlite3")

    assert databases["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert databases["default"]["NAME"] == str(tmp_path / "db.sqlite3")


def test_databases_postgres_url_uses_psycopg_pool_without_persistent_connections(
    tmp_path: Path,
) -> None:
    env = {
        "DATABASE_URL": "postgres://app:s3cret@db.internal:5433/p2p",
        "DATABASE_POOL_MAX_SIZE": "20",
    }

    default = config.databases(env, sqlite_path=tmp_path / "x")["default"]

    assert default["ENGINE"] == "django.db.backends.postgresql"
    assert (default["HOST"], default["PORT"], default["NAME"]) == ("db.internal", 5433, "p2p")
    assert (default["USER"], default["PASSWORD"]) == ("app", "s3cret")
    assert default["CONN_MAX_AGE"] == 0
    assert default["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 20, "timeout": 10}


def test_databases_other_engines_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="postgres"):
        config.databases({"DATABASE_URL": "mysql://u@h/db"}, sqlite_path=tmp_path / "x")


def test_redis_url_switches_channel_layer_cache_and_broker() -> None:
    env = {"REDIS_URL": "redis://cache.internal:6380/2"}

    layer = config.channel_layers(env)["default"]
    cache = config.caches(env)["default"]
    celery = config.celery(env)

    assert layer["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    assert layer["CONFIG"]["hosts"] == [
        {
            "address": "redis://cache.internal:6380/2",
            "socket_timeout": 15,
            "retry": Retry(NoBackoff(), 1, (RedisConnectionError,)),
        }
    ]
    assert cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert cache["LOCATION"] == "redis://cache.internal:6380/2"
    assert celery["CELERY_BROKER_URL"] == "redis://cache.internal:6380/2"
    assert celery["CELERY_TASK_ALWAYS_EAGER"] is False


def test_no_redis_url_is_the_embedded_default() -> None:
    assert config.channel_layers({})["default"] == {
        "BACKEND": "channels.layers.InMemoryChannelLayer"
    }
    assert config.caches({})["default"] == {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache"
    }
    assert config.celery({})["CELERY_TASK_ALWAYS_EAGER"] is True


def test_media_s3_bucket_switches_storage_to_s3() -> None:
    env = {
        "MEDIA_S3_BUCKET": "p2p-media",
        "AWS_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }

    default = config.storages(env)["default"]

    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    assert default["OPTIONS"]["bucket_name"] == "p2p-media"
    assert default["OPTIONS"]["endpoint_url"] == "http://127.0.0.1:9000"
    assert default["OPTIONS"]["querystring_auth"] is True
    assert default["OPTIONS"]["default_acl"] is None
    assert config.storages({})["default"]["BACKEND"] == (
        "django.core.files.storage.FileSystemStorage"
    )


def test_email_host_switches_to_smtp_and_console_is_the_default() -> None:
    smtp = config.email({"EMAIL_HOST": "smtp.internal", "EMAIL_PORT": "2525", "EMAIL_USE_TLS": "1"})

    mailer = smtp["MAILERS"]["default"]
    assert mailer["BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (mailer["OPTIONS"]["host"], mailer["OPTIONS"]["port"]) == ("smtp.internal", 2525)
    assert mailer["OPTIONS"]["use_tls"] is True
    assert config.email({})["MAILERS"]["default"] == {
        "BACKEND": "django.core.mail.backends.console.EmailBackend",
        "OPTIONS": {},
    }


def test_env_bool_refuses_unclear_values() -> None:
    assert config.env_bool({"DEBUG": "on"}, "DEBUG") is True
    assert config.env_bool({}, "DEBUG") is False
    with pytest.raises(ImproperlyConfigured, match="DEBUG"):
        config.env_bool({"DEBUG": "maybe"}, "DEBUG")


def test_secret_key_missing_without_debug_stops_start_up() -> None:
    result = manage("check", env={"DEBUG": "0"})

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_secret_key_in_debug_is_generated_once_and_kept(tmp_path: Path) -> None:
    key_file = tmp_path / "key"

    first = config.secret_key({}, debug=True, dev_key_file=key_file)
    second = config.secret_key({}, debug=True, dev_key_file=key_file)

    assert len(first) >= 50
    assert first == second


def test_check_deploy_reports_nothing_with_production_settings() -> None:
    production = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "p2p.example",
        "EMAIL_HOST": "smtp.p2p.example",
    }

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_serve_daphne_first_with_asgi(settings: object) -> None:
    from django.conf import settings as django_settings

    assert django_settings.INSTALLED_APPS[0] == "daphne"
    assert django_settings.ASGI_APPLICATION == "p2p_sandbox.asgi.application"
    assert django_settings.SECURE_CSP["object-src"] == ["'none'"]


def test_production_settings_hash_passwords_with_argon2() -> None:
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.PASSWORD_HASHERS[0])",
        env={"DEBUG": "1"},
    )

    assert result.stdout.strip() == "django.contrib.auth.hashers.Argon2PasswordHasher"
