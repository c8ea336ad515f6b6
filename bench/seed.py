"""The data sets of the scenarios that need users.

    DATABASE_URL=sqlite:////tmp/bench.sqlite3 python -m bench.seed --users 500
    DATABASE_URL=... SECRET_KEY=... python -m bench.seed --messaging-users 100 \
        --sessions-file /tmp/sessions.json
    DATABASE_URL=... python -m bench.seed --forum-users 1000
    DATABASE_URL=... SECRET_KEY=... python -m bench.seed --forum-sessions \
        --sessions-file /tmp/sessions.json
    DATABASE_URL=postgres://... python -m bench.seed --use-cases 100000
    DATABASE_URL=... SECRET_KEY=... python -m bench.seed --library-credentials \
        --sessions-file /tmp/credentials.json
    DATABASE_URL=... python -m bench.seed --upload-authors 10 --upload-use-cases 40 \
        --sessions-file /tmp/credentials.json
    DATABASE_URL=... SECRET_KEY=... python -m bench.seed --reader \
        --sessions-file /tmp/credentials.json

`--users`, the login scenario's: N verified users of one organization, all with the same password.

The password is hashed ONCE with the production hasher (`make_password`) and that hash is written
for every user with bulk_create: 500 Argon2 hashes would take minutes and measure nothing. Each
user still has its own row and email, so logins spread over many addresses (five failures lock
one; the benchmark sends none). Run by bench/run.py against its own fresh database, after
`manage.py migrate`; refuses to run where the users already exist.

`--messaging-users`, the messaging scenario's: N (even) verified users of another organization,
paired (user 2k with 2k+1), each pair's direct conversation opened through
`messaging.services.start_direct_conversation`, and one signed-in session per user, stored by
the session engine as a login stores it (user id, backend, session auth hash, the session
clock). The session keys, ids, peers and conversations go to `--sessions-file` (not to stdout):
the load generator's cookies. Sessions are signed with SECRET_KEY, so the seed must run with the
servers' SECRET_KEY (bench/run.py passes the servers' environment).

`--forum-users`, the forum_viewers scenario's: N verified users of a third organization and one
topic in the category `general`, opened by user 0 through `forums.services.create_topic`. Their
sessions are made apart, for every server start (`--forum-sessions`), so none of them has been
idle for long when its socket opens (sessions end after SESSION_IDLE_TIMEOUT idle); the
sessions file also names the topic and the poster (user 1).

`--use-cases`, the usecases_library scenario's: a library of N use cases across 20
organizations, with every derived field (HTML, search document, tag rows, metric summary,
reaction counters) as the services write it; `--library-credentials`: a fresh session and API
token of its viewer. `--upload-authors` (with `--upload-use-cases` drafts each), the
usecases_upload scenario's authors and their API tokens. See bench/usecase_seed.py.

`--reader`, the authread scenario's: one verified user of a fourth organization with a signed-in
session and a personal API token (`accounts.services.create_api_token`), and the exact answer
of `GET /api/v1/forums/categories`, built here from the rows (the categories of the data
migration, no topics), not by the code under test: every variant's answer is compared with it.
"""

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "
# Only ever stored in the benchmark's own throw-away database; no one logs in with it.
MESSAGING_PASSWORD = "Bench-Messaging-Rivet-2026"  # noqa: S105
MESSAGING_DOMAIN = "bench-messaging.example"
MESSAGING_ORGANIZATION = "Bench Messaging Works"
FORUM_PASSWORD = "Bench-Forum-Gasket-2026"  # noqa: S105
FORUM_DOMAIN = "bench-forum.example"
FORUM_ORGANIZATION = "Bench Forum Works"
FORUM_TOPIC_TITLE = "Line 3 stops every night at 02:00: who has seen this?"
FORUM_POSTER_INDEX = 1
READER_PASSWORD = "Bench-Reader-Flange-2026"  # noqa: S105
READER_DOMAIN = "bench-reader.example"
READER_ORGANIZATION = "Bench Reader Works"
READ_PATH = "/api/v1/forums/categories"


def messaging_email(index: int) -> str:
    return f"chatter{index:05d}@{MESSAGING_DOMAIN}"


def forum_email(index: int) -> str:
    return f"viewer{index:05d}@{FORUM_DOMAIN}"


def create_verified_users(
    count: int,
    *,
    organization: tuple[str, str, str],
    email: Callable[[int], str],
    last_name: str,
    encoded: str,
) -> list[Any]:
    """`count` verified users of a new organization (name, slug, email domain), user 0 its
    admin, all with the password hash `encoded`; returned in the order of their emails."""
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Organization, User

    name, slug, domain = organization
    now = timezone.now()
    with transaction.atomic():
        created = Organization.objects.create(name=name, slug=slug, email_domain=domain)
        User.objects.bulk_create(
            [
                User(
                    email=email(index),
                    password=encoded,
                    first_name="Bench",
                    last_name=f"{last_name} {index}",
                    organization=created,
                    role=User.Role.ADMIN if index == 0 else User.Role.MEMBER,
                    email_verified_at=now,
                )
                for index in range(count)
            ],
            batch_size=500,
        )
    return list(User.objects.filter(organization=created).order_by("email"))


def create_sessions(users: list[Any]) -> list[str]:
    """One signed-in session per user, stored by the session engine as a login stores it (user
    id, backend, session auth hash, the session clock); returns the session keys."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from accounts.middleware import ACTIVE_AT, STARTED_AT

    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    backend = settings.AUTHENTICATION_BACKENDS[0]
    clock = time.time()
    keys = []
    for user in users:
        session = store_class()
        session[SESSION_KEY] = user._meta.pk.value_to_string(user)
        session[BACKEND_SESSION_KEY] = backend
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session[STARTED_AT] = clock
        session[ACTIVE_AT] = clock
        session.create()
        keys.append(session.session_key)
    return keys


def seed_login_users(count: int) -> dict[str, object]:
    from django.contrib.auth.hashers import identify_hasher, make_password

    from accounts.models import User
    from bench.workloads import LOGIN_DOMAIN, LOGIN_ORGANIZATION, LOGIN_PASSWORD, login_email

    if User.objects.filter(email__endswith=f"@{LOGIN_DOMAIN}").exists():
        raise SystemExit(f"users @{LOGIN_DOMAIN} exist already: seed a fresh database")
    started = time.perf_counter()
    encoded = make_password(LOGIN_PASSWORD)
    hash_s = time.perf_counter() - started
    create_verified_users(
        count,
        organization=(LOGIN_ORGANIZATION, "bench-login-works", LOGIN_DOMAIN),
        email=login_email,
        last_name="User",
        encoded=encoded,
    )
    return {
        "users": count,
        "emails": f"{login_email(0)} .. {login_email(count - 1)}",
        "hasher": identify_hasher(encoded).algorithm,
        "hashes_computed": 1,
        "hash_s": round(hash_s, 3),
        "seconds": round(time.perf_counter() - started, 3),
    }


def seed_messaging_users(count: int, sessions_file: str) -> dict[str, object]:
    from django.conf import settings
    from django.contrib.auth.hashers import identify_hasher, make_password

    from accounts.models import User
    from messaging import services

    if User.objects.filter(email__endswith=f"@{MESSAGING_DOMAIN}").exists():
        raise SystemExit(f"users @{MESSAGING_DOMAIN} exist already: seed a fresh database")
    started = time.perf_counter()
    encoded = make_password(MESSAGING_PASSWORD)
    users = create_verified_users(
        count,
        organization=(MESSAGING_ORGANIZATION, "bench-messaging-works", MESSAGING_DOMAIN),
        email=messaging_email,
        last_name="Chatter",
        encoded=encoded,
    )
    conversations: dict[int, int] = {}
    for low, high in zip(users[::2], users[1::2], strict=True):
        conversation = services.start_direct_conversation(actor=low, other_id=high.pk)
        conversations[low.pk] = conversations[high.pk] = conversation.pk
    entries = []
    for index, (user, session_key) in enumerate(zip(users, create_sessions(users), strict=True)):
        peer = users[index ^ 1]
        entries.append(
            {
                "index": index,
                "id": user.pk,
                "email": user.email,
                "session_key": session_key,
                "peer_index": index ^ 1,
                "peer_id": peer.pk,
                "conversation_id": conversations[user.pk],
            }
        )
    with open(sessions_file, "w") as output:
        json.dump({"cookie_name": settings.SESSION_COOKIE_NAME, "users": entries}, output)
    return {
        "users": count,
        "emails": f"{messaging_email(0)} .. {messaging_email(count - 1)}",
        "hasher": identify_hasher(encoded).algorithm,
        "hashes_computed": 1,
        "pairs": count // 2,
        "conversations": len(set(conversations.values())),
        "sessions": len(entries),
        "session_engine": settings.SESSION_ENGINE,
        "seconds": round(time.perf_counter() - started, 3),
    }


def seed_forum_users(count: int) -> dict[str, object]:
    from django.contrib.auth.hashers import identify_hasher, make_password

    from accounts.models import User
    from forums import services

    if User.objects.filter(email__endswith=f"@{FORUM_DOMAIN}").exists():
        raise SystemExit(f"users @{FORUM_DOMAIN} exist already: seed a fresh database")
    started = time.perf_counter()
    encoded = make_password(FORUM_PASSWORD)
    users = create_verified_users(
        count,
        organization=(FORUM_ORGANIZATION, "bench-forum-works", FORUM_DOMAIN),
        email=forum_email,
        last_name="Viewer",
        encoded=encoded,
    )
    topic = services.create_topic(
        actor=users[0],
        category="general",
        title=FORUM_TOPIC_TITLE,
        content="The PLC logs a **watchdog timeout** every night; the MES shows nothing.",
        tags=["plc", "downtime"],
    )
    return {
        "users": count,
        "emails": f"{forum_email(0)} .. {forum_email(count - 1)}",
        "hasher": identify_hasher(encoded).algorithm,
        "hashes_computed": 1,
        "topic_id": topic.pk,
        "topic_author_index": 0,
        "poster_index": FORUM_POSTER_INDEX,
        "seconds": round(time.perf_counter() - started, 3),
    }


def create_forum_sessions(sessions_file: str) -> dict[str, object]:
    """Fresh sessions of the seeded forum users, and the file the load generator reads."""
    from django.conf import settings

    from accounts.models import User
    from forums.models import Topic

    started = time.perf_counter()
    users = list(User.objects.filter(email__endswith=f"@{FORUM_DOMAIN}").order_by("email"))
    if not users:
        raise SystemExit(f"no users @{FORUM_DOMAIN}: run --forum-users first")
    topic = Topic.objects.get(title=FORUM_TOPIC_TITLE, author=users[0])
    entries = [
        {"index": index, "id": user.pk, "email": user.email, "session_key": session_key}
        for index, (user, session_key) in enumerate(zip(users, create_sessions(users), strict=True))
    ]
    with open(sessions_file, "w") as output:
        json.dump(
            {
                "cookie_name": settings.SESSION_COOKIE_NAME,
                "topic_id": topic.pk,
                "poster_index": FORUM_POSTER_INDEX,
                "users": entries,
            },
            output,
        )
    return {
        "sessions": len(entries),
        "topic_id": topic.pk,
        "session_engine": settings.SESSION_ENGINE,
        "seconds": round(time.perf_counter() - started, 3),
    }


def seed_reader(credentials_file: str) -> dict[str, object]:
    """The reader, its session and token, and the expected answer, to `credentials_file`."""
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from django.db.models import Sum

    from accounts.models import User
    from accounts.services import create_api_token
    from forums.models import Category, Topic

    if User.objects.filter(email__endswith=f"@{READER_DOMAIN}").exists():
        raise SystemExit(f"users @{READER_DOMAIN} exist already: seed a fresh database")
    started = time.perf_counter()
    [user] = create_verified_users(
        1,
        organization=(READER_ORGANIZATION, "bench-reader-works", READER_DOMAIN),
        email=lambda index: f"reader{index:05d}@{READER_DOMAIN}",
        last_name="Reader",
        encoded=make_password(READER_PASSWORD),
    )
    [session_key] = create_sessions([user])
    _token, raw_token = create_api_token(actor=user, name="bench authread")
    categories = []
    for category in Category.objects.order_by("position", "name"):
        live = Topic.objects.filter(category=category, deleted_at__isnull=True)
        categories.append(
            {
                "id": category.pk,
                "name": category.name,
                "slug": category.slug,
                "description": category.description,
                "topic_count": live.count(),
                "post_count": live.aggregate(n=Sum("reply_count"))["n"] or 0,
            }
        )
    with open(credentials_file, "w") as output:
        json.dump(
            {
                "user": {"id": user.pk, "email": user.email},
                "cookie_name": settings.SESSION_COOKIE_NAME,
                "session_key": session_key,
                "token": raw_token,
                "path": READ_PATH,
                # ninja's renderer: json.dumps with its default separators.
                "expected_body": json.dumps(categories),
            },
            output,
        )
    return {
        "users": 1,
        "email": user.email,
        "sessions": 1,
        "api_tokens": 1,
        "categories": len(categories),
        "session_engine": settings.SESSION_ENGINE,
        "seconds": round(time.perf_counter() - started, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seed", description=__doc__)
    parser.add_argument("--users", type=int, default=500, help="users to create (default 500)")
    parser.add_argument(
        "--messaging-users",
        type=int,
        help="instead: the messaging scenario's paired users with sessions (an even number)",
    )
    parser.add_argument(
        "--forum-users",
        type=int,
        help="instead: the forum_viewers scenario's users (at least 2) and its topic",
    )
    parser.add_argument(
        "--forum-sessions",
        action="store_true",
        help="instead: fresh sessions of the seeded forum users, to --sessions-file",
    )
    parser.add_argument(
        "--use-cases",
        type=int,
        help="instead: the usecases_library scenario's library of this many use cases",
    )
    parser.add_argument(
        "--library-credentials",
        action="store_true",
        help="instead: a fresh session of each of the library's viewers, to --sessions-file",
    )
    parser.add_argument(
        "--upload-authors",
        type=int,
        help="instead: the usecases_upload scenario's authors, with --upload-use-cases drafts "
        "each; their tokens and drafts to --sessions-file",
    )
    parser.add_argument(
        "--upload-use-cases", type=int, default=10, help="drafts per upload author (default 10)"
    )
    parser.add_argument(
        "--reader",
        action="store_true",
        help="instead: the authread scenario's user, session, API token and expected answer, "
        "to --sessions-file",
    )
    parser.add_argument(
        "--sessions-file",
        help="with --messaging-users, --forum-sessions, --library-credentials, "
        "--upload-authors or --reader: where the session keys (or tokens) are written",
    )
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error("--users must be >= 1")
    if args.messaging_users is not None and (
        args.messaging_users < 2 or args.messaging_users % 2 or not args.sessions_file
    ):
        parser.error("--messaging-users takes an even number >= 2, and --sessions-file")
    if args.forum_users is not None and args.forum_users < 2:
        parser.error("--forum-users takes a number >= 2 (the topic's author and the poster)")
    if args.forum_sessions and not args.sessions_file:
        parser.error("--forum-sessions needs --sessions-file")
    if args.use_cases is not None and args.use_cases < 1:
        parser.error("--use-cases must be >= 1")
    if (
        args.library_credentials or args.upload_authors is not None or args.reader
    ) and not args.sessions_file:
        parser.error("--library-credentials, --upload-authors and --reader need --sessions-file")
    if args.upload_authors is not None and (args.upload_authors < 1 or args.upload_use_cases < 1):
        parser.error("--upload-authors and --upload-use-cases must be >= 1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p2p_sandbox.settings")
    import django

    django.setup()
    from bench import usecase_seed

    if args.messaging_users is not None:
        result = seed_messaging_users(args.messaging_users, args.sessions_file)
    elif args.forum_users is not None:
        result = seed_forum_users(args.forum_users)
    elif args.forum_sessions:
        result = create_forum_sessions(args.sessions_file)
    elif args.use_cases is not None:
        result = usecase_seed.seed_library(args.use_cases)
    elif args.library_credentials:
        credentials = usecase_seed.create_library_viewer_credentials()
        with open(args.sessions_file, "w") as output:
            json.dump(credentials, output)
        result = {"viewers": len(credentials["viewers"])}
    elif args.reader:
        result = seed_reader(args.sessions_file)
    elif args.upload_authors is not None:
        result = usecase_seed.seed_upload_authors(
            args.upload_authors, args.upload_use_cases, args.sessions_file
        )
    else:
        result = seed_login_users(args.users)
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
