"""Who is viewing a topic: the Redis store (shared by web processes) and the in-process one
(the embedded default) behave the same; time is a fake clock, so expiry needs no waiting."""

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from forums import consumers, presence

TOPIC = 987_654_321
OTHER_TOPIC = 987_654_322
TIMEOUT = 5


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def redis_url() -> str:
    return os.environ["REDIS_URL"]


def delete_keys(*topic_ids: int) -> None:
    client = redis.Redis.from_url(redis_url())
    for topic_id in topic_ids:
        client.delete(presence.connections_key(topic_id), presence.viewers_key(topic_id))
    client.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.services), "local"])
def store(request: pytest.FixtureRequest, clock: Clock) -> Iterator[presence.PresenceStore]:
    if request.param == "local":
        yield presence.LocalPresence(clock=clock)
        return
    delete_keys(TOPIC, OTHER_TOPIC)
    try:
        yield presence.RedisPresence(redis_url(), clock=clock)
    finally:
        delete_keys(TOPIC, OTHER_TOPIC)


async def test_presence_counts_a_user_with_two_tabs_once(store: presence.PresenceStore) -> None:
    await store.ajoin(TOPIC, "alice-laptop", 1, "Alice Haddad")
    await store.ajoin(TOPIC, "alice-phone", 1, "Alice Haddad")
    await store.ajoin(TOPIC, "bob", 2, "Bob Saleh")
    await store.ajoin(OTHER_TOPIC, "carol", 3, "Carol Nasser")

    assert await store.alist_viewers(TOPIC) == (
        2,
        [{"id": 1, "name": "Alice Haddad"}, {"id": 2, "name": "Bob Saleh"}],
    )
    assert store.get_viewer_ids(TOPIC) == {1, 2}
    assert store.get_viewer_ids(OTHER_TOPIC) == {3}


async def test_presence_leave_removes_only_that_connection(
    store: presence.PresenceStore,
) -> None:
    await store.ajoin(TOPIC, "alice-laptop", 1, "Alice Haddad")
    await store.ajoin(TOPIC, "alice-phone", 1, "Alice Haddad")
    await store.ajoin(TOPIC, "bob", 2, "Bob Saleh")

    await store.aleave(TOPIC, "alice-laptop")
    one_tab_left = await store.alist_viewers(TOPIC)
    await store.aleave(TOPIC, "alice-phone")
    await store.aleave(TOPIC, "never-joined")
    alice_gone = await store.alist_viewers(TOPIC)
    await store.aleave(TOPIC, "bob")

    assert one_tab_left == (2, [{"id": 1, "name": "Alice Haddad"}, {"id": 2, "name": "Bob Saleh"}])
    assert alice_gone == (1, [{"id": 2, "name": "Bob Saleh"}])
    assert await store.alist_viewers(TOPIC) == (0, [])
    assert store.get_viewer_ids(TOPIC) == set()


async def test_presence_entries_of_a_dead_connection_expire_unless_refreshed(
    store: presence.PresenceStore, clock: Clock
) -> None:
    await store.ajoin(TOPIC, "alive", 1, "Alice Haddad")
    await store.ajoin(TOPIC, "dead", 2, "Bob Saleh")
    clock.now += presence.PRESENCE_REFRESH
    await store.arefresh(TOPIC, "alive", 1, "Alice Haddad")
    clock.now += presence.PRESENCE_TTL - presence.PRESENCE_REFRESH - 1
    before_expiry = store.get_viewer_ids(TOPIC)

    clock.now += 1
    after_expiry = await store.alist_viewers(TOPIC)

    assert before_expiry == {1, 2}
    assert after_expiry == (1, [{"id": 1, "name": "Alice Haddad"}])
    assert store.get_viewer_ids(TOPIC) == {1}
    clock.now += presence.PRESENCE_TTL
    assert await store.alist_viewers(TOPIC) == (0, [])


async def test_presence_lists_twenty_viewers_by_name_and_counts_them_all(
    store: presence.PresenceStore,
) -> None:
    for user_id in range(1, 26):
        await store.ajoin(TOPIC, f"tab-{user_id}", user_id, f"Viewer {user_id:02d}")

    count, listed = await store.alist_viewers(TOPIC)  # type: ignore[misc]

    assert count == 25
    assert listed == [{"id": i, "name": f"Viewer {i:02d}"} for i in range(1, 21)]


@pytest.mark.services
async def test_presence_in_redis_prunes_expired_entries_and_lets_idle_keys_expire(
    clock: Clock,
) -> None:
    delete_keys(TOPIC)
    store = presence.RedisPresence(redis_url(), clock=clock)
    client = redis.Redis.from_url(redis_url(), decode_responses=True)
    try:
        await store.ajoin(TOPIC, "alive", 1, "Alice Haddad")
        await store.ajoin(TOPIC, "dead", 2, "Bob Saleh")
        clock.now += presence.PRESENCE_REFRESH
        await store.arefresh(TOPIC, "alive", 1, "Alice Haddad")
        clock.now += presence.PRESENCE_TTL - presence.PRESENCE_REFRESH
        await store.alist_viewers(TOPIC)

        assert client.zrange(presence.connections_key(TOPIC), 0, -1) == ["alive"]
        assert client.hkeys(presence.viewers_key(TOPIC)) == ["alive"]
        for key in (presence.connections_key(TOPIC), presence.viewers_key(TOPIC)):
            assert 0 < client.ttl(key) <= presence.PRESENCE_TTL + 5
        assert presence.connections_key(TOPIC).startswith("p2p:forum:presence:")
    finally:
        client.close()
        delete_keys(TOPIC)


@pytest.mark.services
async def test_presence_in_redis_is_shared_by_two_stores(clock: Clock) -> None:
    """Two web processes each have their own store on the same Redis."""
    delete_keys(TOPIC)
    server_a = presence.RedisPresence(redis_url(), clock=clock)
    server_b = presence.RedisPresence(redis_url(), clock=clock)
    try:
        await server_a.ajoin(TOPIC, "on-a", 1, "Alice Haddad")
        await server_b.ajoin(TOPIC, "on-b", 2, "Bob Saleh")

        assert await server_a.alist_viewers(TOPIC) == await server_b.alist_viewers(TOPIC)
        assert server_b.get_viewer_ids(TOPIC) == {1, 2}
    finally:
        delete_keys(TOPIC)


async def test_presence_with_redis_down_reads_as_nobody_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = presence.RedisPresence("redis://127.0.0.1:1/0")

    await store.ajoin(TOPIC, "tab", 1, "Alice Haddad")
    await store.arefresh(TOPIC, "tab", 1, "Alice Haddad")
    listed = await store.alist_viewers(TOPIC)
    await store.aleave(TOPIC, "tab")

    assert listed is None
    assert store.get_viewer_ids(TOPIC) == set()
    assert [record.levelname for record in caplog.records] == ["WARNING"] * 5


def test_presence_store_is_redis_with_redis_url_and_in_process_without(
    settings: Any,
) -> None:
    presence.get_store.cache_clear()
    try:
        settings.REDIS_URL = "redis://cache.internal:6379/3"
        shared = presence.get_store()
        presence.get_store.cache_clear()
        settings.REDIS_URL = ""
        embedded = presence.get_store()
    finally:
        presence.get_store.cache_clear()

    assert isinstance(shared, presence.RedisPresence)
    assert shared.url == "redis://cache.internal:6379/3"
    assert isinstance(embedded, presence.LocalPresence)


# Broadcasting presence


@pytest.fixture
def broadcasts(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[consumers.PresenceBroadcasts, asyncio.Queue]:
    """PresenceBroadcasts whose broadcasts go to a queue, with viewers from a local store."""
    store = presence.LocalPresence()
    sent: asyncio.Queue = asyncio.Queue()

    async def send_presence(topic_id: int, count: int, viewers: list[dict[str, Any]]) -> None:
        sent.put_nowait((topic_id, count, [viewer["id"] for viewer in viewers]))

    monkeypatch.setattr(presence, "get_store", lambda: store)
    monkeypatch.setattr(consumers.events, "asend_presence", send_presence)
    monkeypatch.setattr(consumers, "PRESENCE_BROADCAST_INTERVAL", 0.2)
    return consumers.PresenceBroadcasts(), sent


async def test_presence_broadcasts_the_first_change_at_once_and_later_ones_together(
    broadcasts: tuple[consumers.PresenceBroadcasts, asyncio.Queue],
) -> None:
    broadcaster, sent = broadcasts

    await presence.ajoin(TOPIC, "alice", 1, "Alice Haddad")
    await broadcaster.request(TOPIC)
    at_once = sent.get_nowait()
    for user_id in (2, 3, 4):
        await presence.ajoin(TOPIC, f"tab-{user_id}", user_id, f"Viewer {user_id}")
        await broadcaster.request(TOPIC)
    queued_meanwhile = sent.qsize()
    together = await asyncio.wait_for(sent.get(), timeout=TIMEOUT)
    await presence.aleave(TOPIC, "alice")
    await broadcaster.request(TOPIC)
    after_leave = await asyncio.wait_for(sent.get(), timeout=TIMEOUT)

    assert at_once == (TOPIC, 1, [1])
    assert queued_meanwhile == 0
    assert together == (TOPIC, 4, [1, 2, 3, 4])
    assert after_leave == (TOPIC, 3, [2, 3, 4])
    assert sent.empty()


async def test_presence_broadcasts_to_a_large_audience_less_often(
    broadcasts: tuple[consumers.PresenceBroadcasts, asyncio.Queue],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broadcaster, sent = broadcasts
    monkeypatch.setattr(consumers, "PRESENCE_FRAMES_PER_SECOND", 4)
    for user_id in (1, 2, 3, 4):
        await presence.ajoin(TOPIC, f"tab-{user_id}", user_id, f"Viewer {user_id}")

    await broadcaster.request(TOPIC)
    at_once = sent.get_nowait()
    await presence.aleave(TOPIC, "tab-1")
    await broadcaster.request(TOPIC)
    interval = broadcaster.loops[asyncio.get_running_loop()][TOPIC].interval
    held_back = sent.qsize()
    later = await asyncio.wait_for(sent.get(), timeout=TIMEOUT)

    assert at_once == (TOPIC, 4, [1, 2, 3, 4])
    # Four viewers at four frames a second: one broadcast a second, not one per 0.2 s.
    assert interval == 1.0
    assert held_back == 0
    assert later == (TOPIC, 3, [2, 3, 4])


def test_presence_interval_stretches_past_two_hundred_viewers() -> None:
    assert consumers.presence_interval(1) == consumers.PRESENCE_BROADCAST_INTERVAL == 1.0
    assert consumers.presence_interval(200) == 1.0
    assert consumers.presence_interval(1000) == 5.0
