"""Who is viewing a topic: one entry per open socket, shared by every web process.

With REDIS_URL set, each topic has two Redis keys: a sorted set of connection ids scored by the
time their entry expires, and a hash of connection id -> viewer ({"id", "name"}). A socket
refreshes its entry while it is open; the entries of a process that died without saying
goodbye expire after PRESENCE_TTL and are pruned by the next read. Without REDIS_URL (the
embedded default, one process) the same entries live in this process.

Presence is best effort: a Redis that is down is logged and reads as nobody viewing, never an
error for the socket or the request that asked.
"""

import asyncio
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any, Protocol

import redis
import redis.asyncio
from django.conf import settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "p2p:forum:presence"
# An entry lives this long after its last refresh; sockets refresh every PRESENCE_REFRESH.
PRESENCE_TTL = 60.0
PRESENCE_REFRESH = 20.0
MAX_LISTED_VIEWERS = 20

Viewer = dict[str, Any]  # {"id": int, "name": str}
ViewerList = tuple[int, list[Viewer]]

# KEYS: the sorted set of connections, the hash of viewers. ARGV: now.
# Removes every expired connection (in slices, so that `unpack` stays small) and returns the
# viewers of those left.
PRUNE_AND_LIST = """
while true do
  local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 500)
  if #expired == 0 then break end
  redis.call('ZREM', KEYS[1], unpack(expired))
  redis.call('HDEL', KEYS[2], unpack(expired))
end
return redis.call('HVALS', KEYS[2])
"""


def connections_key(topic_id: int) -> str:
    # The braces keep both keys of a topic in one Redis Cluster slot, as the script needs.
    return f"{KEY_PREFIX}:{{{topic_id}}}:connections"


def viewers_key(topic_id: int) -> str:
    return f"{KEY_PREFIX}:{{{topic_id}}}:viewers"


def summarize(viewers: Iterable[Viewer]) -> ViewerList:
    """(distinct users, up to MAX_LISTED_VIEWERS of them ordered by name): a user with two tabs
    open counts once."""
    distinct = {viewer["id"]: viewer for viewer in viewers}
    ordered = sorted(
        distinct.values(), key=lambda viewer: (viewer["name"].casefold(), viewer["id"])
    )
    return len(distinct), ordered[:MAX_LISTED_VIEWERS]


class PresenceStore(Protocol):
    async def ajoin(self, topic_id: int, connection_id: str, user_id: int, name: str) -> None: ...
    async def arefresh(
        self, topic_id: int, connection_id: str, user_id: int, name: str
    ) -> None: ...
    async def aleave(self, topic_id: int, connection_id: str) -> None: ...
    async def alist_viewers(self, topic_id: int) -> ViewerList | None: ...
    def get_viewer_ids(self, topic_id: int) -> set[int]: ...


class LocalPresence:
    """Entries in this process: for the embedded default, where one process serves everything."""

    def __init__(self, *, ttl: float = PRESENCE_TTL, clock: Callable[[], float] = time.time):
        self.ttl = ttl
        self.clock = clock
        self.lock = threading.Lock()
        # topic id -> connection id -> (viewer, expires at)
        self.topics: dict[int, dict[str, tuple[Viewer, float]]] = {}

    def _live(self, topic_id: int) -> list[Viewer]:
        now = self.clock()
        with self.lock:
            connections = self.topics.get(topic_id, {})
            for connection_id in [c for c, (_, expiry) in connections.items() if expiry <= now]:
                del connections[connection_id]
            if not connections:
                self.topics.pop(topic_id, None)
            return [viewer for viewer, _ in connections.values()]

    async def ajoin(self, topic_id: int, connection_id: str, user_id: int, name: str) -> None:
        with self.lock:
            self.topics.setdefault(topic_id, {})[connection_id] = (
                {"id": user_id, "name": name},
                self.clock() + self.ttl,
            )

    arefresh = ajoin

    async def aleave(self, topic_id: int, connection_id: str) -> None:
        with self.lock:
            connections = self.topics.get(topic_id, {})
            connections.pop(connection_id, None)
            if not connections:
                self.topics.pop(topic_id, None)

    async def alist_viewers(self, topic_id: int) -> ViewerList:
        return summarize(self._live(topic_id))

    def get_viewer_ids(self, topic_id: int) -> set[int]:
        return {viewer["id"] for viewer in self._live(topic_id)}


class RedisPresence:
    """Entries in Redis, shared by every web process."""

    def __init__(
        self, url: str, *, ttl: float = PRESENCE_TTL, clock: Callable[[], float] = time.time
    ):
        self.url = url
        self.ttl = ttl
        self.clock = clock
        self.sync_client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3)
        # An asyncio client is bound to the event loop it was made in: one per loop.
        self.async_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, redis.asyncio.Redis
        ] = weakref.WeakKeyDictionary()
        self.sync_prune = self.sync_client.register_script(PRUNE_AND_LIST)

    def async_client(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        client = self.async_clients.get(loop)
        if client is None:
            client = redis.asyncio.Redis.from_url(
                self.url, socket_timeout=5, socket_connect_timeout=3
            )
            self.async_clients[loop] = client
        return client

    async def ajoin(self, topic_id: int, connection_id: str, user_id: int, name: str) -> None:
        keys = connections_key(topic_id), viewers_key(topic_id)
        # The keys outlive their newest entry a little, so a topic nobody refreshes disappears.
        key_ttl = int(self.ttl) + 5
        try:
            async with self.async_client().pipeline(transaction=True) as pipe:
                pipe.hset(keys[1], connection_id, json.dumps({"id": user_id, "name": name}))
                pipe.zadd(keys[0], {connection_id: self.clock() + self.ttl})
                pipe.expire(keys[0], key_ttl)
                pipe.expire(keys[1], key_ttl)
                await pipe.execute()
        except redis.RedisError as error:
            logger.warning("Presence of topic %s not recorded: %s", topic_id, error)

    # A refresh writes the whole entry again, so one lost to a Redis restart comes back.
    arefresh = ajoin

    async def aleave(self, topic_id: int, connection_id: str) -> None:
        try:
            async with self.async_client().pipeline(transaction=True) as pipe:
                pipe.zrem(connections_key(topic_id), connection_id)
                pipe.hdel(viewers_key(topic_id), connection_id)
                await pipe.execute()
        except redis.RedisError as error:
            logger.warning("Presence of topic %s not removed: %s", topic_id, error)

    async def alist_viewers(self, topic_id: int) -> ViewerList | None:
        """None when Redis cannot answer."""
        try:
            prune = self.async_client().register_script(PRUNE_AND_LIST)
            values = await prune(
                keys=[connections_key(topic_id), viewers_key(topic_id)], args=[self.clock()]
            )
        except redis.RedisError as error:
            logger.warning("Presence of topic %s not read: %s", topic_id, error)
            return None
        return summarize(json.loads(value) for value in values)

    def get_viewer_ids(self, topic_id: int) -> set[int]:
        try:
            values = self.sync_prune(
                keys=[connections_key(topic_id), viewers_key(topic_id)], args=[self.clock()]
            )
        except redis.RedisError as error:
            logger.warning("Presence of topic %s not read: %s", topic_id, error)
            return set()
        return {json.loads(value)["id"] for value in values}


def redis_url() -> str:
    url = getattr(settings, "REDIS_URL", None)
    if url is None:
        url = os.environ.get("REDIS_URL", "")
    return url.strip()


@cache
def get_store() -> PresenceStore:
    url = redis_url()
    return RedisPresence(url) if url else LocalPresence()


async def ajoin(topic_id: int, connection_id: str, user_id: int, name: str) -> None:
    await get_store().ajoin(topic_id, connection_id, user_id, name)


async def arefresh(topic_id: int, connection_id: str, user_id: int, name: str) -> None:
    await get_store().arefresh(topic_id, connection_id, user_id, name)


async def aleave(topic_id: int, connection_id: str) -> None:
    await get_store().aleave(topic_id, connection_id)


async def alist_viewers(topic_id: int) -> ViewerList | None:
    """(distinct users viewing, up to 20 of them as {"id", "name"}); None if unknown."""
    return await get_store().alist_viewers(topic_id)


def get_viewer_ids(topic_id: int) -> set[int]:
    """The ids of the users viewing the topic now (empty if unknown)."""
    return get_store().get_viewer_ids(topic_id)
