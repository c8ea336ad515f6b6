"""Password checks in a small thread pool of their own.

Argon2 costs ~0.3 s of CPU a hash. Run in each request's thread, every login in flight is one
more thread competing with the event loop for the CPU, so a burst of logins starves every other
request of the process. Here at most PASSWORD_HASH_THREADS hashes run at once (argon2-cffi
releases the GIL), the others queue, and the loop keeps its share of the CPU. Nothing here
touches the database: a pool thread never holds a connection.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import make_password, verify_password


@dataclass(frozen=True)
class PasswordCheck:
    valid: bool
    # The password hashed again with the preferred hasher, when the stored hash is outdated.
    new_encoded: str | None = None


executor = ThreadPoolExecutor(
    max_workers=settings.PASSWORD_HASH_THREADS, thread_name_prefix="password-hash"
)


def check_password_hash(password: str, encoded: str) -> PasswordCheck:
    """An empty `encoded` (no such account) still costs one hash, as a wrong password does."""
    valid, must_update = verify_password(password, encoded)
    return PasswordCheck(
        valid=valid, new_encoded=make_password(password) if valid and must_update else None
    )


def check_password_in_pool(password: str, encoded: str) -> PasswordCheck:
    return executor.submit(check_password_hash, password, encoded).result()


async def acheck_password_in_pool(password: str, encoded: str) -> PasswordCheck:
    return await asyncio.wrap_future(executor.submit(check_password_hash, password, encoded))
