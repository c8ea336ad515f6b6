"""What can be benchmarked: scenarios, the server variants they compare and the loads they apply.

A scenario names one endpoint, the exact response every variant must give before it is loaded,
the variants (the project and its baselines) and the ratios its targets are judged on. A
scenario with a `workload` (bench/workloads.py) is loaded in the open model: `path` is then only
the readiness check, and the workload's request is checked once (the probe) and then sent at
fixed rates.
"""

import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from p2p_sandbox.balancer import web_command

HOST = "127.0.0.1"
BIN = Path(sys.executable).parent

# Scenarios of sockets, loaded at fixed rates of messages or posts.
SOCKET_KINDS = ("messaging", "forum")
# Scenarios with a flow of their own, loaded at fixed rates: the use-case library's queries
# (bench/library.py) and media uploads with a worker (bench/upload.py).
OPEN_KINDS = (*SOCKET_KINDS, "library", "upload")
# Closed loops run by a flow of their own: one web process against two behind HAProxy
# (bench/balanced.py).
FLOW_KINDS = ("balanced",)

# Takes the port, returns argv.
CommandBuilder = Callable[[str], list[str]]


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    command: CommandBuilder
    # None for a server that does not load Django.
    settings_module: str | None
    # Scenarios of sockets: how bench/msgload.py (messaging) or bench/forumload.py
    # (forum_viewers) loads it (socket, http or echo).
    mode: str | None = None
    # A scenario's authenticated read (`Scenario.read_path`): the credential every request
    # carries, "session" (the cookie) or "token" (Authorization: Bearer); None: none.
    auth: str | None = None
    # Pinned to both CPUs (the server's and the load generator's) instead of the server's: a
    # topology of several processes (e.g. two web processes behind HAProxy).
    both_cpus: bool = False


@dataclass(frozen=True)
class Load:
    """A closed loop of `connections` clients, or, with `rate`, an open model at that many
    requests/s (latency counted from each request's scheduled send time)."""

    connections: int
    rate: float | None = None

    @property
    def kind(self) -> str:
        return "closed" if self.rate is None else "open"

    @property
    def label(self) -> str:
        if self.rate is None:
            return f"concurrency {self.connections}"
        return f"rate {self.rate:g}/s"

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "connections": self.connections, "rate": self.rate}


@dataclass(frozen=True)
class Ratio:
    label: str
    numerator: str
    denominator: str


@dataclass(frozen=True)
class Target:
    """A latency target of an open-model scenario, judged on the median over the repetitions."""

    label: str
    variant: str
    rate: float
    percentile: str
    limit_ms: float


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    description: str
    # What every server start is checked with before a run: by default the project's /health
    # (the baselines answer it with the same bytes).
    path: str = "/health"
    expected_status: int = 200
    expected_body: bytes = b'{"status": "healthy", "async": true}'
    expected_content_type: str = "application/json"
    variants: tuple[Variant, ...]
    default_variants: tuple[str, ...]
    default_loads: tuple[Load, ...]
    # Requests/s ratios printed for each load; one is skipped when a variant is not in the run.
    ratios: tuple[Ratio, ...]
    # The open-model request (a bench/workloads.py name); None: wrk GETs `path`.
    workload: str | None = None
    # "sqlite" or "postgres": the runner creates, migrates (and seeds) a database of its own;
    # None: DATABASE_URL passes through as it is.
    database: str | None = None
    # Seed the login users (bench/seed.py) into that database.
    seed_login_users: bool = False
    # Time the production password hasher on the server CPU (bench/hasher.py), per repetition.
    measure_hasher: bool = False
    # Environment variables removed for the servers (e.g. to keep Celery eager).
    unset_env: tuple[str, ...] = ()
    # Environment variables set for the servers.
    server_env: tuple[tuple[str, str], ...] = ()
    default_duration: int = 5
    default_warmup: int = 1
    targets: tuple[Target, ...] = ()
    # "http": one request per load point (wrk, or the open-model generator with `workload`);
    # "messaging": users' sockets and messages between them (bench/messaging.py);
    # "forum": many viewers' sockets on one topic and posts fanned out to them (bench/forum.py);
    # "library": a mix of the use-case library's queries on 100k use cases (bench/library.py);
    # "upload": image uploads processed by a Celery worker (bench/upload.py).
    kind: str = "http"
    # Seconds before a request is a timeout (open model: a message is lost), unless --timeout.
    default_timeout: int = 30
    # Users seeded, unless --users (login's users; messaging's paired users; forum viewers).
    default_users: int = 500
    # A closed-loop scenario that loads this path instead of `path`, with each variant's
    # credential (`Variant.auth`): the runner seeds a user, a session and an API token
    # (bench.seed --reader) and, after the `path` check, proves every variant answers this path
    # with exactly the seeded expected body.
    read_path: str | None = None
    read_content_type: str = "application/json; charset=utf-8"

    @property
    def open_model(self) -> bool:
        """Loaded at fixed rates (--rate), not by a closed loop of connections."""
        return self.workload is not None or self.kind in OPEN_KINDS

    def variant(self, name: str) -> Variant:
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise KeyError(name)


def daphne(app: str) -> CommandBuilder:
    # At the default verbosity (1) Daphne writes an access-log line per request to stdout, even
    # without --access-log; -v 0 turns that off and logs warnings only.
    return lambda port: [str(BIN / "daphne"), "-v", "0", "-b", HOST, "-p", port, app]


def uvicorn(app: str) -> CommandBuilder:
    return lambda port: [
        str(BIN / "uvicorn"),
        app,
        "--host",
        HOST,
        "--port",
        port,
        # Named, not left to uvicorn's "auto": a missing package fails the start instead of
        # measuring the pure-Python fallbacks.
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--ws",
        "websockets",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def granian(app: str) -> CommandBuilder:
    # One worker (one process, as the other servers); Granian's ASGI interface, WebSockets on.
    return lambda port: [
        str(BIN / "granian"),
        "--interface",
        "asgi",
        "--host",
        HOST,
        "--port",
        port,
        "--workers",
        "1",
        "--ws",
        "--no-access-log",
        "--log-level",
        "warning",
        app,
    ]


def gunicorn_gthread(app: str, *, workers: int = 2, threads: int = 8) -> CommandBuilder:
    return lambda port: [
        str(BIN / "gunicorn"),
        app,
        "--bind",
        f"{HOST}:{port}",
        "--worker-class",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
    ]


def consecutive_free_ports(count: int) -> int:
    """The first of `count` consecutive ports on HOST that are free now."""
    while True:
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            first = int(probe.getsockname()[1])
        if first + count > 65536:
            continue
        try:
            for offset in range(1, count):
                with socket.socket() as probe:
                    probe.bind((HOST, first + offset))
        except OSError:
            continue
        return first


def balanced(processes: int) -> CommandBuilder:
    """The production web process (`python -m p2p_sandbox.balancer`): `processes` Daphne
    processes (p2p_sandbox.balancer.web_command) behind HAProxy (deploy/haproxy.cfg) on `port`,
    one process tree; the web processes on consecutive free ports."""
    return lambda port: [
        sys.executable,
        "-m",
        "p2p_sandbox.balancer",
        "--processes",
        str(processes),
        "--server",
        "daphne",
        "--host",
        HOST,
        "--port",
        port,
        "--first-backend-port",
        str(consecutive_free_ports(processes)),
    ]


PROJECT_ASGI = "p2p_sandbox.asgi:application"
RAW_ASGI = "bench.servers.raw_asgi:application"
BARE_ASGI = "bench.servers.bare_asgi:application"
SYNC_WSGI = "bench.servers.sync_wsgi:application"

HEALTH_VARIANTS = (
    Variant(
        "project-daphne",
        "the project (full middleware, async view) under Daphne",
        daphne(PROJECT_ASGI),
        "p2p_sandbox.settings",
    ),
    Variant(
        "project-uvicorn",
        "the project (full middleware, async view) under uvicorn",
        uvicorn(PROJECT_ASGI),
        "p2p_sandbox.settings",
    ),
    Variant(
        "raw-daphne",
        "a raw ASGI app returning the same bytes, under Daphne",
        daphne(RAW_ASGI),
        None,
    ),
    Variant(
        "raw-uvicorn",
        "a raw ASGI app returning the same bytes, under uvicorn",
        uvicorn(RAW_ASGI),
        None,
    ),
    Variant(
        "sync-gunicorn",
        "the same view as a sync Django view, project settings and full middleware, "
        "under gunicorn gthread (2 workers x 8 threads)",
        gunicorn_gthread(SYNC_WSGI),
        "bench.servers.sync_settings",
    ),
    Variant(
        "bare-daphne",
        "a bare Django async view (project settings, no middleware) under Daphne",
        daphne(BARE_ASGI),
        "bench.servers.bare_settings",
    ),
    Variant(
        "bare-uvicorn",
        "a bare Django async view (project settings, no middleware) under uvicorn",
        uvicorn(BARE_ASGI),
        "bench.servers.bare_settings",
    ),
    Variant(
        "project-granian",
        "the project (full middleware, async view) under Granian (ASGI, one worker)",
        granian(PROJECT_ASGI),
        "p2p_sandbox.settings",
    ),
    Variant(
        "raw-granian",
        "a raw ASGI app returning the same bytes, under Granian",
        granian(RAW_ASGI),
        None,
    ),
)

HEALTH = Scenario(
    name="health",
    description="GET /health: an async view with no database access, through all middleware",
    variants=HEALTH_VARIANTS,
    default_variants=(
        "project-daphne",
        "project-uvicorn",
        "raw-daphne",
        "raw-uvicorn",
        "sync-gunicorn",
    ),
    default_loads=(Load(1), Load(50), Load(1000)),
    ratios=(
        Ratio("project / raw ASGI, Daphne", "project-daphne", "raw-daphne"),
        Ratio("project / raw ASGI, uvicorn", "project-uvicorn", "raw-uvicorn"),
        Ratio("project Daphne / project uvicorn", "project-daphne", "project-uvicorn"),
        Ratio("project Daphne / sync WSGI", "project-daphne", "sync-gunicorn"),
        Ratio("project uvicorn / sync WSGI", "project-uvicorn", "sync-gunicorn"),
        Ratio("project / bare Django, Daphne", "project-daphne", "bare-daphne"),
        Ratio("project / bare Django, uvicorn", "project-uvicorn", "bare-uvicorn"),
        Ratio("project Daphne / project Granian", "project-daphne", "project-granian"),
        Ratio("project / raw ASGI, Granian", "project-granian", "raw-granian"),
    ),
)

SYNC_READ_WSGI = "bench.servers.sync_read_wsgi:application"
SYNC_READ_SETTINGS = "bench.servers.sync_read_settings"
READ_PATH = "/api/v1/forums/categories"
CREDENTIALS = {"session": "session cookie", "token": "Bearer token"}


def authread_variants() -> tuple[Variant, ...]:
    project = [
        Variant(
            f"project-{auth}-{server}",
            f"the project under {server.capitalize()}: GET {READ_PATH} (full middleware, ninja, "
            f"async operation) with the {credential}",
            build(PROJECT_ASGI),
            "p2p_sandbox.settings",
            auth=auth,
        )
        for server, build in (("daphne", daphne), ("uvicorn", uvicorn))
        for auth, credential in CREDENTIALS.items()
    ]
    baselines = [
        Variant(
            f"bare-{server}",
            f"a bare Django async view (project settings, no middleware, no auth) under "
            f"{server.capitalize()}: the same query in one sync_to_async hop, the same bytes",
            build(BARE_ASGI),
            "bench.servers.bare_settings",
        )
        for server, build in (("daphne", daphne), ("uvicorn", uvicorn))
    ]
    sync = [
        Variant(
            f"sync-gunicorn-{auth}",
            f"the same read as a sync view (the project's selector, schema, settings and full "
            f"middleware; the {credential} checked synchronously) under gunicorn gthread "
            "(2 workers x 8 threads)",
            gunicorn_gthread(SYNC_READ_WSGI),
            SYNC_READ_SETTINGS,
            auth=auth,
        )
        for auth, credential in CREDENTIALS.items()
    ]
    raw = [
        Variant(
            f"raw-{server}",
            f"a raw ASGI app returning the same bytes, under {server.capitalize()}",
            build(RAW_ASGI),
            None,
        )
        for server, build in (("daphne", daphne), ("uvicorn", uvicorn))
    ]
    return (*project, *baselines, *sync, *raw)


AUTHREAD_VARIANTS = authread_variants()
AUTHREAD_RATIOS = (
    # BENCHMARKS.md's targets: at least 0.8x the bare view under the same server, and at least
    # 1.0x the sync build with the same credential.
    Ratio(
        "project session / bare Django, Daphne (>= 0.8)", "project-session-daphne", "bare-daphne"
    ),
    Ratio("project token / bare Django, Daphne (>= 0.8)", "project-token-daphne", "bare-daphne"),
    Ratio(
        "project session / bare Django, uvicorn (>= 0.8)", "project-session-uvicorn", "bare-uvicorn"
    ),
    Ratio("project token / bare Django, uvicorn (>= 0.8)", "project-token-uvicorn", "bare-uvicorn"),
    Ratio(
        "project session Daphne / sync WSGI session (>= 1.0)",
        "project-session-daphne",
        "sync-gunicorn-session",
    ),
    Ratio(
        "project token Daphne / sync WSGI token (>= 1.0)",
        "project-token-daphne",
        "sync-gunicorn-token",
    ),
    Ratio(
        "project session uvicorn / sync WSGI session (>= 1.0)",
        "project-session-uvicorn",
        "sync-gunicorn-session",
    ),
    Ratio(
        "project token uvicorn / sync WSGI token (>= 1.0)",
        "project-token-uvicorn",
        "sync-gunicorn-token",
    ),
    Ratio("bare Django / raw ASGI, Daphne", "bare-daphne", "raw-daphne"),
    Ratio("bare Django / raw ASGI, uvicorn", "bare-uvicorn", "raw-uvicorn"),
    Ratio("project session Daphne / uvicorn", "project-session-daphne", "project-session-uvicorn"),
)

AUTHREAD = Scenario(
    name="authread",
    description=f"GET {READ_PATH} on PostgreSQL: the cheapest authenticated API read (the "
    "categories and their counts, one query), with a session cookie and with a Bearer token, "
    "against a bare async view and the sync build under gunicorn; closed loop",
    variants=AUTHREAD_VARIANTS,
    default_variants=tuple(variant.name for variant in AUTHREAD_VARIANTS),
    default_loads=(Load(50),),
    ratios=AUTHREAD_RATIOS,
    database="postgres",
    read_path=READ_PATH,
)

SYNC_LOGIN_WSGI = "bench.servers.sync_login_wsgi:application"

ACCOUNTS_VARIANTS = (
    HEALTH_VARIANTS[0],
    HEALTH_VARIANTS[1],
    Variant(
        "sync-gunicorn",
        "the same endpoints as sync Django views (the project's schemas, services, error "
        "handlers and middleware) under gunicorn gthread (2 workers x 8 threads)",
        gunicorn_gthread(SYNC_LOGIN_WSGI),
        "bench.servers.sync_login_settings",
    ),
)
# Every request of the generator comes from 127.0.0.1 and stands for a different person: the
# per-address limit of anonymous writes (60/min by default) would answer 429 to the 61st login of
# a minute. A limit never reached keeps the limiter's work (its cache counter) in the figures.
UNREACHED_ANONYMOUS_LIMIT = (("RATE_LIMIT_ANONYMOUS", "1000000/m"),)
# Likewise for the socket scenarios: their few posters stand for many people (one poster sends
# 1-2 posts a second; each messaging user up to one message every 2 s), past the per-person
# limits of writes and frames.
UNREACHED_PERSON_LIMITS = (
    ("RATE_LIMIT_WRITES", "1000000/m"),
    ("RATE_LIMIT_FRAMES", "1000000/m"),
)

ACCOUNTS_RATIOS = (
    Ratio("project Daphne / sync WSGI", "project-daphne", "sync-gunicorn"),
    Ratio("project uvicorn / sync WSGI", "project-uvicorn", "sync-gunicorn"),
    Ratio("project Daphne / project uvicorn", "project-daphne", "project-uvicorn"),
)

LOGIN_VARIANTS = (
    *ACCOUNTS_VARIANTS,
    Variant(
        "project-two-lb",
        "the project's production web process, `python -m p2p_sandbox.balancer --processes 2`: "
        "two Daphne processes behind HAProxy, the whole tree on both CPUs (the load generator "
        "shares one)",
        balanced(2),
        "p2p_sandbox.settings",
        both_cpus=True,
    ),
)

LOGIN = Scenario(
    name="login",
    description="POST /api/v1/auth/login (async view, full middleware): a seeded user's correct "
    "password, a new session each time, on one process and on two behind HAProxy; open model",
    variants=LOGIN_VARIANTS,
    default_variants=("project-daphne", "project-two-lb", "sync-gunicorn"),
    default_loads=(Load(1000, 2), Load(1000, 4), Load(1000, 8)),
    ratios=(
        *ACCOUNTS_RATIOS,
        Ratio("two processes / one process, Daphne", "project-two-lb", "project-daphne"),
    ),
    workload="login",
    database="sqlite",
    server_env=UNREACHED_ANONYMOUS_LIMIT,
    seed_login_users=True,
    measure_hasher=True,
    default_duration=30,
    default_warmup=2,
    targets=(
        Target("login p95 < 1 s at 2 logins/s", "project-daphne", 2, "p95", 1000),
        Target("login p95 < 1 s at 4 logins/s, two processes", "project-two-lb", 4, "p95", 1000),
    ),
)

SIGNUP = Scenario(
    name="signup",
    description="POST /api/v1/auth/signup (async view, full middleware): a new organization and "
    "its admin on a new email domain each time, verification email queued (Celery eager, "
    "console backend into the server log); open model",
    variants=ACCOUNTS_VARIANTS,
    default_variants=("project-daphne", "sync-gunicorn"),
    default_loads=(Load(1000, 2),),
    ratios=ACCOUNTS_RATIOS,
    workload="signup",
    database="sqlite",
    server_env=UNREACHED_ANONYMOUS_LIMIT,
    measure_hasher=True,
    # With a broker the verification email would wait in Redis for a worker that is not there;
    # without one Celery runs the task in the request's process, as the embedded default does.
    unset_env=("REDIS_URL", "CELERY_BROKER_URL"),
    default_duration=30,
    default_warmup=2,
)

ECHO_ASGI = "bench.servers.channels_echo:application"

MESSAGING_VARIANTS = (
    Variant(
        "project-socket",
        "the project under Daphne: each message a `send` frame on the sender's /ws/messaging/ "
        "socket (services.send_direct_message), received as `new_message` on the recipient's",
        daphne(PROJECT_ASGI),
        "p2p_sandbox.settings",
        mode="socket",
    ),
    Variant(
        "echo-daphne",
        "a bare Channels consumer relaying each frame to the recipient's socket through the "
        "same Redis channel layer (no auth, no database), under Daphne",
        daphne(ECHO_ASGI),
        "bench.servers.echo_settings",
        mode="echo",
    ),
    Variant(
        "project-http",
        "the project under Daphne: each message a POST /api/v1/messages (session cookie, CSRF, "
        "a new connection each), received as `new_message` on the recipient's socket",
        daphne(PROJECT_ASGI),
        "p2p_sandbox.settings",
        mode="http",
    ),
    Variant(
        "project-socket-uvicorn",
        "the project's /ws/messaging/ sockets as project-socket, under uvicorn (uvloop, httptools, "
        "websockets)",
        uvicorn(PROJECT_ASGI),
        "p2p_sandbox.settings",
        mode="socket",
    ),
    Variant(
        "project-socket-granian",
        "the project's /ws/messaging/ sockets as project-socket, under Granian (ASGI, one worker)",
        granian(PROJECT_ASGI),
        "p2p_sandbox.settings",
        mode="socket",
    ),
)

MESSAGING = Scenario(
    name="messaging",
    description="100 users' /ws/messaging/ sockets open at once (session cookies, Redis channel "
    "layer), 50 pairs exchanging direct messages at a fixed total rate; delivery latency from "
    "the scheduled send to the recipient's new_message, lost and duplicated messages",
    variants=MESSAGING_VARIANTS,
    server_env=UNREACHED_PERSON_LIMITS,
    default_variants=("project-socket", "echo-daphne"),
    # 10/s: each user sends a message every 10 s; 50/s: every 2 s. Measured here, the project
    # spends 30-40 ms of server CPU per message, so one core saturates near 25-30/s: 50/s shows
    # the overload, and 100/s (--rate) would only measure a longer backlog.
    default_loads=(Load(1000, 10), Load(1000, 50)),
    ratios=(
        Ratio("project socket / channel-layer echo", "project-socket", "echo-daphne"),
        Ratio("project HTTP / project socket", "project-http", "project-socket"),
        Ratio("project socket Daphne / uvicorn", "project-socket", "project-socket-uvicorn"),
        Ratio("project socket Daphne / Granian", "project-socket", "project-socket-granian"),
    ),
    database="postgres",
    default_duration=20,
    default_warmup=2,
    targets=(
        Target("p99 delivery < 200 ms at 10 msgs/s", "project-socket", 10, "p99", 200),
        Target("p99 delivery < 200 ms at 50 msgs/s", "project-socket", 50, "p99", 200),
    ),
    kind="messaging",
    default_timeout=10,
    default_users=100,
)

FORUM_VARIANTS = (
    Variant(
        "project-socket",
        "the project under Daphne: each post a `new_post` frame on the poster's "
        "/ws/forum/<topic_id>/ socket (services.create_post), received as `post_created` by "
        "every viewer",
        daphne(PROJECT_ASGI),
        "p2p_sandbox.settings",
        mode="socket",
    ),
    Variant(
        "echo-daphne",
        "a bare Channels consumer sending each post to the topic's group with one group_send "
        "through the same Redis channel layer (no auth, no database, no presence), under Daphne",
        daphne(ECHO_ASGI),
        "bench.servers.echo_settings",
        mode="echo",
    ),
    Variant(
        "project-http",
        "the project under Daphne: each post a POST /api/v1/forums/topics/<id>/posts (session "
        "cookie, CSRF, a new connection each), received as `post_created` by every viewer",
        daphne(PROJECT_ASGI),
        "p2p_sandbox.settings",
        mode="http",
    ),
    Variant(
        "project-socket-uvicorn",
        "the project's forum sockets as project-socket, under uvicorn (uvloop, httptools, "
        "websockets)",
        uvicorn(PROJECT_ASGI),
        "p2p_sandbox.settings",
        mode="socket",
    ),
    Variant(
        "project-socket-granian",
        "the project's forum sockets as project-socket, under Granian (ASGI, one worker)",
        granian(PROJECT_ASGI),
        "p2p_sandbox.settings",
        mode="socket",
    ),
)

FORUM_VIEWERS = Scenario(
    name="forum_viewers",
    description="1000 viewers' /ws/forum/<topic_id>/ sockets on one topic (session cookies, "
    "Redis channel layer): the ramp, numbered posts at a fixed rate fanned out to every viewer "
    "(latency of the last receiver), lost and duplicated deliveries, drops and RSS over a hold",
    variants=FORUM_VARIANTS,
    server_env=UNREACHED_PERSON_LIMITS,
    default_variants=("project-socket", "echo-daphne"),
    # A post is 1000 frames, and one core sends a few thousand a second through Daphne: 1/s is a
    # busy thread, 2/s near what one server process fans out (5/s, by --rate, the overload).
    default_loads=(Load(1000, 1), Load(1000, 2)),
    ratios=(
        Ratio("project socket / channel-layer echo", "project-socket", "echo-daphne"),
        Ratio("project HTTP / project socket", "project-http", "project-socket"),
        Ratio("project socket Daphne / uvicorn", "project-socket", "project-socket-uvicorn"),
        Ratio("project socket Daphne / Granian", "project-socket", "project-socket-granian"),
    ),
    database="postgres",
    default_duration=30,
    default_warmup=2,
    kind="forum",
    default_timeout=10,
    default_users=1000,
)

SYNC_USECASES_WSGI = "bench.servers.sync_usecases_wsgi:application"
MEDIA_SETTINGS = "bench.servers.media_settings"

LIBRARY_VARIANTS = (
    Variant(
        "project-daphne",
        "the project under Daphne: GET /api/v1/use-cases (async operation, full middleware, "
        "session cookie), the page, its count and the facets in one sync_to_async hop",
        daphne(PROJECT_ASGI),
        "p2p_sandbox.settings",
    ),
    Variant(
        "sync-gunicorn",
        "the same operation as a sync view (the project's schemas and the same function, "
        "usecases.api.library_page; settings and middleware) under gunicorn gthread "
        "(2 workers x 8 threads)",
        gunicorn_gthread(SYNC_USECASES_WSGI),
        "bench.servers.sync_usecases_settings",
    ),
    Variant(
        "project-uvicorn",
        "the project under uvicorn",
        uvicorn(PROJECT_ASGI),
        "p2p_sandbox.settings",
    ),
)

USECASES_LIBRARY = Scenario(
    name="usecases_library",
    description="GET /api/v1/use-cases on a library of 100k use cases, signed in (session "
    "cookie): a mix of six queries (no filter with facets, category + city, tag + has_metrics, "
    "a selective and a broad full-text search, no filter without facets) at a fixed rate; "
    "latency per query",
    variants=LIBRARY_VARIANTS,
    default_variants=("project-daphne", "sync-gunicorn"),
    # Measured here: one request of the mix costs ~0.3 s of PostgreSQL CPU on average with the
    # facets uncached (the whole library's facets, the broad searches), so 1/s leaves the
    # database mostly idle (each kind's latency) and 4/s is past what the two cores give it
    # (the throughput ratio).
    default_loads=(Load(1000, 1), Load(1000, 4)),
    ratios=(
        Ratio("project Daphne / sync WSGI", "project-daphne", "sync-gunicorn"),
        Ratio("project uvicorn / sync WSGI", "project-uvicorn", "sync-gunicorn"),
    ),
    database="postgres",
    default_duration=30,
    default_warmup=5,
    targets=(
        Target("selective search p95 < 100 ms", "project-daphne", 1, "p95", 100),
        Target("broad search p95 < 300 ms", "project-daphne", 1, "p95", 300),
    ),
    kind="library",
)

UPLOAD_VARIANTS = (
    Variant(
        "project-daphne",
        "the project under Daphne: POST /api/v1/use-cases/{id}/media (async operation, "
        "multipart, personal API token), processed by a Celery worker",
        daphne(PROJECT_ASGI),
        MEDIA_SETTINGS,
    ),
    Variant(
        "sync-gunicorn",
        "the same operation as a sync view (the same function, usecases.api.upload_media) "
        "under gunicorn gthread (2 workers x 8 threads), processed by the same worker",
        gunicorn_gthread(SYNC_USECASES_WSGI),
        "bench.servers.sync_usecases_settings",
    ),
    Variant(
        "project-uvicorn",
        "the project under uvicorn, processed by the same worker",
        uvicorn(PROJECT_ASGI),
        MEDIA_SETTINGS,
    ),
)

USECASES_UPLOAD = Scenario(
    name="usecases_upload",
    description="POST /api/v1/use-cases/{id}/media: JPEG photos (1-2 MB, with EXIF) from "
    "several authors at a fixed rate, each processed by a real Celery worker (re-encoded "
    "without metadata, two WebP thumbnails); upload latency, uploads accepted, time to ready",
    variants=UPLOAD_VARIANTS,
    default_variants=("project-daphne", "sync-gunicorn"),
    # Measured here: the worker spends ~280 ms of CPU per photo (~3.5/s on one core): 1/s it
    # keeps up with, 4/s it does not (its throughput, and the queue's wait in time to ready).
    default_loads=(Load(1000, 1), Load(1000, 4)),
    ratios=(
        Ratio("project Daphne / sync WSGI", "project-daphne", "sync-gunicorn"),
        Ratio("project uvicorn / sync WSGI", "project-uvicorn", "sync-gunicorn"),
    ),
    database="postgres",
    default_duration=30,
    default_warmup=3,
    kind="upload",
    default_users=10,
)


def production_daphne(port: str) -> list[str]:
    """The production web process (p2p_sandbox.balancer) without Daphne's per-request access
    log."""
    command = web_command("daphne", int(port))
    return [command[0], "-v", "0", *command[1:]]


BALANCED = Scenario(
    name="balanced",
    description="GET /health and GET /api/v1/forums/categories (session cookie, PostgreSQL) "
    "on one Daphne process, the same behind HAProxy, and two processes (one per CPU) behind "
    "HAProxy; closed loop",
    variants=(
        Variant(
            "one-direct",
            "one Daphne process on the server CPU, wrk on the load generator's CPU",
            production_daphne,
            "p2p_sandbox.settings",
        ),
        Variant(
            "one-lb",
            "the same process behind HAProxy (deploy/haproxy.cfg); HAProxy and wrk on the load "
            "generator's CPU",
            production_daphne,
            "p2p_sandbox.settings",
        ),
        Variant(
            "two-lb",
            "two Daphne processes, one pinned to each CPU, behind HAProxy; HAProxy and wrk on "
            "both CPUs (their CPU is taken from the servers')",
            production_daphne,
            "p2p_sandbox.settings",
        ),
    ),
    default_variants=("one-direct", "one-lb", "two-lb"),
    default_loads=(Load(50),),
    ratios=(),
    database="postgres",
    default_duration=10,
    default_warmup=2,
    kind="balanced",
)

SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        HEALTH,
        AUTHREAD,
        LOGIN,
        SIGNUP,
        MESSAGING,
        FORUM_VIEWERS,
        USECASES_LIBRARY,
        USECASES_UPLOAD,
        BALANCED,
    )
}
