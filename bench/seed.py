"""The login scenario's data set: N verified users of one organization, all with the same password.

    DATABASE_URL=sqlite:////tmp/bench.sqlite3 python -m bench.seed --users 500

The password is hashed ONCE with the production hasher (`make_password`) and that hash is written
for every user with bulk_create: 500 Argon2 hashes would take minutes and measure nothing. Each
user still has its own row and email, so logins spread over many addresses (five failures lock
one; the benchmark sends none). Run by bench/run.py against its own fresh database, after
`manage.py migrate`; refuses to run where the users already exist.
"""

import argparse
import json
import os
import sys
import time

RESULT_PREFIX = "BENCH_RESULT "


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seed", description=__doc__)
    parser.add_argument("--users", type=int, default=500, help="users to create (default 500)")
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error("--users must be >= 1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p2p_sandbox.settings")
    import django

    django.setup()
    print(RESULT_PREFIX + json.dumps(seed_login_users(args.users)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
