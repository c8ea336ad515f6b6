"""The data sets of the scenarios that need users.

    DATABASE_URL=sqlite:////tmp/bench.sqlite3 python -m bench.seed --users 500
    DATABASE_URL=... SECRET_KEY=... python -m bench.seed --messaging-users 100 \
        --sessions-file /tmp/sessions.json

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
"""

import argparse
import json
import os
import sys
import time

RESULT_PREFIX = "BENCH_RESULT "
# Only ever stored in the benchmark's own throw-away database; no one logs in with it.
MESSAGING_PASSWORD = "Bench-Messaging-Rivet-2026"  # noqa: S105
MESSAGING_DOMAIN = "bench-messaging.example"
MESSAGING_ORGANIZATION = "Bench Messaging Works"


def messaging_email(index: int) -> str:
    return f"chatter{index:05d}@{MESSAGING_DOMAIN}"


def seed_login_users(count: int) -> dict[str, object]:
    from django.contrib.auth.hashers import identify_hasher, make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Organization, User
    from bench.workloads import LOGIN_DOMAIN, LOGIN_ORGANIZATION, LOGIN_PASSWORD, login_email

    if User.objects.filter(email__endswith=f"@{LOGIN_DOMAIN}").exists():
        raise SystemExit(f"users @{LOGIN_DOMAIN} exist already: seed a fresh database")
    started = time.perf_counter()
    encoded = make_password(LOGIN_PASSWORD)
    hash_s = time.perf_counter() - started
    now = timezone.now()
    with transaction.atomic():
        organization = Organization.objects.create(
            name=LOGIN_ORGANIZATION, slug="bench-login-works", email_domain=LOGIN_DOMAIN
        )
        User.objects.bulk_create(
            [
                User(
                    email=login_email(index),
                    password=encoded,
                    first_name="Bench",
                    last_name=f"User {index}",
                    organization=organization,
                    role=User.Role.ADMIN if index == 0 else User.Role.MEMBER,
                    email_verified_at=now,
                )
                for index in range(count)
            ],
            batch_size=500,
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
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import identify_hasher, make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.middleware import ACTIVE_AT, STARTED_AT
    from accounts.models import Organization, User
    from messaging import services

    if User.objects.filter(email__endswith=f"@{MESSAGING_DOMAIN}").exists():
        raise SystemExit(f"users @{MESSAGING_DOMAIN} exist already: seed a fresh database")
    started = time.perf_counter()
    encoded = make_password(MESSAGING_PASSWORD)
    now = timezone.now()
    with transaction.atomic():
        organization = Organization.objects.create(
            name=MESSAGING_ORGANIZATION,
            slug="bench-messaging-works",
            email_domain=MESSAGING_DOMAIN,
        )
        User.objects.bulk_create(
            [
                User(
                    email=messaging_email(index),
                    password=encoded,
                    first_name="Bench",
                    last_name=f"Chatter {index}",
                    organization=organization,
                    role=User.Role.ADMIN if index == 0 else User.Role.MEMBER,
                    email_verified_at=now,
                )
                for index in range(count)
            ],
            batch_size=500,
        )
    users = list(User.objects.filter(organization=organization).order_by("email"))
    conversations: dict[int, int] = {}
    for low, high in zip(users[::2], users[1::2], strict=True):
        conversation = services.start_direct_conversation(actor=low, other_id=high.pk)
        conversations[low.pk] = conversations[high.pk] = conversation.pk
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    backend = settings.AUTHENTICATION_BACKENDS[0]
    clock = time.time()
    entries = []
    for index, user in enumerate(users):
        session = store_class()
        session[SESSION_KEY] = user._meta.pk.value_to_string(user)
        session[BACKEND_SESSION_KEY] = backend
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session[STARTED_AT] = clock
        session[ACTIVE_AT] = clock
        session.create()
        peer = users[index ^ 1]
        entries.append(
            {
                "index": index,
                "id": user.pk,
                "email": user.email,
                "session_key": session.session_key,
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seed", description=__doc__)
    parser.add_argument("--users", type=int, default=500, help="users to create (default 500)")
    parser.add_argument(
        "--messaging-users",
        type=int,
        help="instead: the messaging scenario's paired users with sessions (an even number)",
    )
    parser.add_argument(
        "--sessions-file", help="with --messaging-users: where the session keys are written"
    )
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error("--users must be >= 1")
    if args.messaging_users is not None and (
        args.messaging_users < 2 or args.messaging_users % 2 or not args.sessions_file
    ):
        parser.error("--messaging-users takes an even number >= 2, and --sessions-file")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p2p_sandbox.settings")
    import django

    django.setup()
    if args.messaging_users is not None:
        result = seed_messaging_users(args.messaging_users, args.sessions_file)
    else:
        result = seed_login_users(args.users)
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
