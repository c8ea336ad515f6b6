"""Django settings for P2P Sandbox.

Everything comes from environment variables (see `.env.example` and DESIGN.md). With none set,
the platform runs on the embedded default: SQLite, the in-memory channel layer, the local-memory
cache, eager Celery, local media files and the console email backend.
"""

import os
from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from p2p_sandbox import config

BASE_DIR = Path(__file__).resolve().parent.parent
ENV = os.environ

DEBUG = config.env_bool(ENV, "DEBUG")
SECRET_KEY = config.secret_key(ENV, debug=DEBUG, dev_key_file=BASE_DIR / ".dev-secret-key")

ALLOWED_HOSTS = config.env_list(
    ENV, "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = config.env_list(ENV, "CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servestatic.runserver_nostatic",
    "django.contrib.staticfiles",
    # Full-text search fields and lookups; the project still runs on SQLite without them.
    "django.contrib.postgres",
    "channels",
    "storages",
    "p2p_sandbox",
    "accounts",
    "messaging",
    "forums",
    "usecases",
    "dashboard",
]

# Django's middleware, run in the event loop under ASGI (p2p_sandbox/middleware.py).
MIDDLEWARE = [
    "p2p_sandbox.middleware.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "p2p_sandbox.middleware.SessionMiddleware",
    "accounts.middleware.SessionLimitsMiddleware",
    "p2p_sandbox.middleware.LocaleMiddleware",
    "p2p_sandbox.middleware.UnstorableInputMiddleware",
    "p2p_sandbox.middleware.CommonMiddleware",
    "p2p_sandbox.middleware.CsrfViewMiddleware",
    "p2p_sandbox.middleware.AuthenticationMiddleware",
    "p2p_sandbox.ratelimit.RateLimitMiddleware",
    "p2p_sandbox.middleware.MessageMiddleware",
    "p2p_sandbox.middleware.XFrameOptionsMiddleware",
    "p2p_sandbox.middleware.ContentSecurityPolicyMiddleware",
]
# Messages live in a signed cookie: the message middleware runs in the event loop and must not
# load the session.
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"
# These deploy checks want Django's own paths above; p2p_sandbox.middleware checks the subclasses.
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003"]

ROOT_URLCONF = "p2p_sandbox.urls"
ASGI_APPLICATION = "p2p_sandbox.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Data

DATABASES = config.databases(ENV, sqlite_path=BASE_DIR / "db.sqlite3")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
CHANNEL_LAYERS = config.channel_layers(ENV)
CACHES = config.caches(ENV)
STORAGES = config.storages(ENV)
globals().update(config.celery(ENV))
globals().update(config.email(ENV))

# Accounts

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Password hashes run in a pool of their own (accounts/passwords.py): at most this many at once.
PASSWORD_HASH_THREADS = config.env_int(ENV, "PASSWORD_HASH_THREADS", 1)
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
PASSWORD_RESET_TIMEOUT = 2 * 60 * 60
# Sessions end after 30 idle minutes and, whatever the activity, 8 hours after sign-in.
SESSION_IDLE_TIMEOUT = timedelta(minutes=config.env_int(ENV, "SESSION_IDLE_TIMEOUT_MINUTES", 30))
SESSION_MAX_AGE = timedelta(hours=config.env_int(ENV, "SESSION_MAX_AGE_HOURS", 8))
SESSION_COOKIE_AGE = int(SESSION_MAX_AGE.total_seconds())
LOGIN_FAILURE_LIMIT = 5
LOGIN_FAILURE_WINDOW = timedelta(minutes=15)
LOGIN_LOCKOUT = timedelta(minutes=15)
# A browser that signed in keeps a signed device cookie this long (it survives signing out):
# failures from elsewhere do not lock it out (accounts/devices.py).
LOGIN_DEVICE_COOKIE_NAME = "p2p_device"
LOGIN_DEVICE_COOKIE_AGE = timedelta(days=config.env_int(ENV, "LOGIN_DEVICE_COOKIE_DAYS", 365))
EMAIL_CODE_LIFETIME = timedelta(minutes=7)
EMAIL_CODE_MAX_ATTEMPTS = 5
EMAIL_CODE_RESEND_AFTER = timedelta(seconds=60)
INVITATION_LIFETIME = timedelta(days=7)
# Sign-up needs a work address: these domains (and PERSONAL_EMAIL_DOMAINS from the environment,
# comma-separated) are refused.
PERSONAL_EMAIL_DOMAINS = frozenset(
    [
        *config.env_list(ENV, "PERSONAL_EMAIL_DOMAINS", []),
        "gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "hotmail.com", "outlook.com",
        "live.com", "msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me",
        "protonmail.com", "gmx.com", "gmx.net", "mail.com", "yandex.com", "yandex.ru",
        "zoho.com", "hotmail.co.uk", "yahoo.co.uk", "outlook.sa", "hotmail.sa",
    ]
)  # fmt: skip
# Links in emails point here.
SITE_URL = ENV.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# Internationalization: English and Arabic are both first-class.

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ar", _("Arabic"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Riyadh"
USE_I18N = True
USE_TZ = True

# Static and media files

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = BASE_DIR / "media"
SERVESTATIC_AUTOREFRESH = DEBUG
SERVESTATIC_USE_MANIFEST = not DEBUG

# Security. With DEBUG off, `manage.py check --deploy` reports nothing.

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = config.env_bool(ENV, "SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health(/ready)?$"]
SECURE_HSTS_SECONDS = config.env_int(ENV, "SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", "blob:", *config.env_list(ENV, "CSP_MEDIA_ORIGINS", [])],
    "media-src": [CSP.SELF, "blob:", *config.env_list(ENV, "CSP_MEDIA_ORIGINS", [])],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
IMAGE_UPLOAD_MAX_BYTES = 5 * 1024 * 1024
# Request bodies over these are refused with a 413 before they are read (p2p_sandbox/body_limits):
# by default the form data plus an image and room for the multipart framing; the media uploads
# up to Media.MAX_PER_USE_CASE files of the largest kind (a 50 MB video) in one request.
REQUEST_BODY_MAX_BYTES = DATA_UPLOAD_MAX_MEMORY_SIZE + IMAGE_UPLOAD_MAX_BYTES + 1024 * 1024
MEDIA_UPLOAD_REQUEST_MAX_BYTES = 10 * 50 * 1024 * 1024 + 1024 * 1024
REQUEST_BODY_LIMITS = [
    (r"^/api/v1/use-cases/\d+/media$", MEDIA_UPLOAD_REQUEST_MAX_BYTES),
    (r"^/use-cases/\d+/edit/3/$", MEDIA_UPLOAD_REQUEST_MAX_BYTES),
]

# API

API_DOCS = DEBUG or config.env_bool(ENV, "API_DOCS")
# Lists page with ?page=&page_size=: a page past pagination.MAX_PAGE is refused, a larger
# page_size is capped at the maximum.
NINJA_PAGINATION_CLASS = "p2p_sandbox.pagination.BoundedPagination"
NINJA_PAGINATION_PER_PAGE = 20
NINJA_MAX_PER_PAGE_SIZE = 100

# Rate limits (p2p_sandbox/ratelimit.py): {scope: ((requests, seconds), ...)} from
# RATE_LIMIT_WRITES, RATE_LIMIT_SEARCHES, RATE_LIMIT_FRAMES and RATE_LIMIT_ANONYMOUS.
RATE_LIMITS = config.rate_limits(ENV)

# Background work (Celery reads CELERY_* through the namespace in p2p_sandbox/celery.py)

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
# Publishing from a request must not hang when the broker is down: the outbox relay recovers.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
# A task whose worker died stays unacknowledged in Redis for the visibility timeout; it is long
# (countdowns and ETAs longer than it would be delivered twice), so the sweeps below recover the
# work of a dead worker first: a claim (email) or a queued media task that has not finished after
# its timeout is handed to another worker by the next sweep. Within 2 minutes of the death:
# timeout + interval (90 s) + the new worker picking it up.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 3}
OUTBOX_CLAIM_TIMEOUT = timedelta(seconds=60)
OUTBOX_RELAY_INTERVAL = timedelta(seconds=30)
MEDIA_REQUEUE_AFTER = timedelta(seconds=60)
MEDIA_SWEEP_INTERVAL = timedelta(seconds=30)
CELERY_BEAT_SCHEDULE = {
    "relay-email-outbox": {
        "task": "p2p_sandbox.relay_email_outbox_task",
        "schedule": OUTBOX_RELAY_INTERVAL,
    },
    "send-message-emails": {
        "task": "messaging.send_message_emails_task",
        "schedule": timedelta(minutes=1),
    },
    # In CELERY_TIMEZONE: early morning in the Gulf, before the working day starts.
    "send-daily-digests": {
        "task": "messaging.send_daily_digests_task",
        "schedule": crontab(hour=7, minute=0),
    },
    "prune-stream-events": {
        "task": "messaging.prune_stream_events_task",
        "schedule": crontab(hour=3, minute=30),
    },
    "requeue-stale-media": {
        "task": "usecases.requeue_stale_media_task",
        "schedule": MEDIA_SWEEP_INTERVAL,
    },
}

# Email outbox: how long a queued email waits for its task before the relay re-queues it (a
# worker's claim on an email lasts OUTBOX_CLAIM_TIMEOUT, above: longer than a send can take with
# EMAIL_TIMEOUT on each exchange, or another worker may send a second copy).
OUTBOX_RELAY_AFTER = timedelta(seconds=60)
OUTBOX_MAX_ATTEMPTS = 8

# A direct message is emailed only if its recipient has not read it this long after it was sent.
MESSAGE_EMAIL_DELAY = timedelta(seconds=config.env_int(ENV, "MESSAGE_EMAIL_DELAY_SECONDS", 300))
# Personal-stream events older than this are deleted; a client further behind resyncs over HTTP.
STREAM_EVENT_RETENTION = timedelta(days=config.env_int(ENV, "STREAM_EVENT_RETENTION_DAYS", 7))
# How long the library's facet counts are kept for one organization's view (0: not kept).
USECASES_FACETS_CACHE_SECONDS = config.env_int(ENV, "USECASES_FACETS_CACHE_SECONDS", 60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": ENV.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Daphne's runserver request log: once, through the console handler.
        "django.channels.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
