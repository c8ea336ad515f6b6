"""Rate limits on writes, searches and socket frames, counted in the cache (Redis here).

Limits in these tests are per day, so no window ends in the middle of a test.
"""

import logging
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient, Client

from accounts import services as account_services
from accounts.models import User
from forums.models import Topic
from messaging.models import Message
from p2p_sandbox import config, ratelimit
from p2p_sandbox.asgi import application
from p2p_sandbox.testing import BIN, ROOT, free_port, process_env, start_process, wait_until

pytestmark = [pytest.mark.services, pytest.mark.django_db]

DAY = 86400
TIMEOUT = 5
LIMITED = {
    "detail": "You are doing this too often. Wait a moment and try again.",
    "code": "rate_limited",
}
Frame = dict[str, Any]


def limits(**scopes: int) -> dict[str, tuple[tuple[int, int], ...]]:
    """settings.RATE_LIMITS with `scope=n` allowing n a day; other scopes unlimited."""
    return {scope: ((count, DAY),) for scope, count in scopes.items()}


@pytest.fixture(autouse=True)
def fresh_counters(settings: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """Counters of this test alone (user ids repeat across runs): a cache key prefix of its
    own, which it answers; and a limiter that has not paused after an earlier failure."""
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": prefix}}
    monkeypatch.setattr(ratelimit, "_paused_until", 0.0)
    return prefix


@pytest.fixture
def sara(user_factory: Any) -> User:
    return user_factory(first_name="Sara", last_name="Haddad")


@pytest.fixture
def omar(user_factory: Any) -> User:
    return user_factory(first_name="Omar", last_name="Khalil")


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post_topic(client: Client, title: str, **extra: Any) -> Any:
    return client.post(
        "/api/v1/forums/topics",
        {"title": title, "category": "general"},
        content_type="application/json",
        **extra,
    )


# Settings


def test_parse_rates_reads_rates_shortest_period_first() -> None:
    assert config.parse_rates("X", "300/h, 30/m") == ((30, 60), (300, 3600))
    assert config.parse_rates("X", "") == ()


@pytest.mark.parametrize("value", ["30", "30/w", "0/m", "x/m", "-1/m"])
def test_parse_rates_refuses_a_malformed_rate(value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="X must be rates like 30/m,300/h"):
        config.parse_rates("X", value)


def test_rate_limits_defaults_and_environment() -> None:
    assert config.rate_limits({}) == {
        "writes": ((30, 60), (300, 3600)),
        "searches": ((60, 60),),
        "frames": ((120, 60),),
        "anonymous": ((60, 60), (600, 3600)),
    }
    assert config.rate_limits({"RATE_LIMIT_WRITES": "5/s"})["writes"] == ((5, 1),)


# API


def test_api_write_over_the_limit_answers_429_and_writes_nothing(settings: Any, sara: User) -> None:
    settings.RATE_LIMITS = limits(writes=2)
    client = signed_in(sara)
    _, token = account_services.create_api_token(actor=sara, name="script")

    first = post_topic(client, "First topic of the day")
    second = post_topic(client, "Second topic of the day")
    # The same person with a token: the same counter.
    third = post_topic(Client(), "Third topic of the day", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert (first.status_code, second.status_code) == (201, 201)
    assert third.status_code == 429
    assert third.json() == LIMITED
    assert 1 <= int(third["Retry-After"]) <= DAY
    assert sorted(Topic.objects.values_list("title", flat=True)) == [
        "First topic of the day",
        "Second topic of the day",
    ]


def test_api_write_limit_is_per_person(settings: Any, sara: User, omar: User) -> None:
    settings.RATE_LIMITS = limits(writes=1)

    sara_first = post_topic(signed_in(sara), "Sara's only topic today")
    omar_first = post_topic(signed_in(omar), "Omar's only topic today")
    sara_second = post_topic(signed_in(sara), "Sara's second topic today")

    assert (sara_first.status_code, omar_first.status_code) == (201, 201)
    assert sara_second.status_code == 429
    assert Topic.objects.count() == 2


def test_api_search_over_the_limit_answers_429_and_other_reads_pass(
    settings: Any, sara: User
) -> None:
    settings.RATE_LIMITS = limits(searches=2)
    client = signed_in(sara)

    searches = [client.get("/api/v1/messages/search", {"q": "valve"}) for _ in range(2)]
    over = client.get("/api/v1/users", {"search": "omar"})
    listed = client.get("/api/v1/messages/conversations")
    blank_search = client.get("/api/v1/users", {"search": " "})

    assert [response.status_code for response in searches] == [200, 200]
    assert over.status_code == 429
    assert over.json() == LIMITED
    assert "Retry-After" in over
    assert (listed.status_code, blank_search.status_code) == (200, 200)


def test_api_anonymous_calls_are_limited_by_address(settings: Any, sara: User, api: Any) -> None:
    settings.RATE_LIMITS = limits(anonymous=2)

    def reset_password(address: str) -> Any:
        return api.post("/api/v1/auth/password-reset", {"email": sara.email}, REMOTE_ADDR=address)

    allowed = [reset_password("10.0.0.1").status_code for _ in range(2)]
    over = reset_password("10.0.0.1")
    elsewhere = reset_password("10.0.0.2")

    assert allowed == [202, 202]
    assert over.status_code == 429
    assert over.json() == LIMITED
    assert "Retry-After" in over
    assert elsewhere.status_code == 202
    assert len(mail.outbox) == 3


# Pages


def test_page_post_over_the_limit_answers_a_429_page_and_writes_nothing(
    settings: Any, sara: User
) -> None:
    settings.RATE_LIMITS = limits(writes=1)
    client = signed_in(sara)
    form = {"category": "general", "title": "A title long enough", "content": "Body."}

    created = client.post("/forums/new/", form)
    over = client.post("/forums/new/", {**form, "title": "Another title long enough"})
    over_from_script = client.post("/forums/new/", form, HTTP_ACCEPT="application/json")

    assert created.status_code == 302
    assert over.status_code == 429
    assert "You are doing this too often." in over.text
    assert 1 <= int(over["Retry-After"]) <= DAY
    assert over_from_script.status_code == 429
    assert over_from_script.json() == LIMITED
    assert list(Topic.objects.values_list("title", flat=True)) == ["A title long enough"]


@pytest.mark.django_db(transaction=True)
async def test_page_post_over_the_limit_under_asgi_answers_429(settings: Any, sara: User) -> None:
    settings.RATE_LIMITS = limits(writes=1)
    client = AsyncClient()
    await client.aforce_login(sara)

    created = await client.post("/i18n/setlang/", {"language": "ar"})
    over = await client.post("/i18n/setlang/", {"language": "en"})
    page = await client.get("/forums/")

    assert created.status_code == 302
    assert over.status_code == 429
    assert 1 <= int(over["Retry-After"]) <= DAY
    assert page.status_code == 200


def test_page_reads_are_not_counted(settings: Any, sara: User) -> None:
    settings.RATE_LIMITS = limits(writes=1, searches=1)
    client = signed_in(sara)

    pages = [client.get("/forums/").status_code for _ in range(3)]
    search = client.get("/use-cases/", {"search": "kiln"})
    second_search = client.get("/use-cases/", {"search": "kiln"})

    assert pages == [200, 200, 200]
    assert (search.status_code, second_search.status_code) == (200, 429)


# Across processes


def test_counters_are_shared_across_processes(
    settings: Any, sara: User, fresh_counters: str
) -> None:
    settings.RATE_LIMITS = limits(writes=2)
    ident = ratelimit.person(sara.pk)
    other_process = subprocess.run(
        [
            str(BIN / "python"),
            "-c",
            "import django; django.setup(); from p2p_sandbox import ratelimit; "
            f"print([ratelimit.hit(['writes'], {ident!r}) for _ in range(2)])",
        ],
        env=process_env(
            "p2p-test-ratelimit", RATE_LIMIT_WRITES="2/d", CACHE_KEY_PREFIX=fresh_counters
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    response = post_topic(signed_in(sara), "One topic too many")

    assert other_process.stdout.strip() == "[None, None]"
    assert response.status_code == 429
    assert Topic.objects.count() == 0


# Redis down


@pytest.fixture
def cache_on_own_redis(settings: Any, tmp_path: Any) -> Iterator[Any]:
    """The cache on a Redis server of the test's own, which the test may stop."""
    port = free_port()
    server = start_process(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        env={},
        log_path=tmp_path / "redis.log",
    )
    wait_until(
        lambda: "Ready to accept connections" in server.log(),
        timeout=10,
        message="Redis did not start",
    )
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        }
    }
    try:
        yield server
    finally:
        server.stop()


def test_write_succeeds_when_redis_is_down(
    settings: Any, sara: User, cache_on_own_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.RATE_LIMITS = limits(writes=1)
    client = signed_in(sara)
    before = post_topic(client, "Counted while Redis is up")
    cache_on_own_redis.stop()

    with caplog.at_level(logging.WARNING, logger="p2p_sandbox.ratelimit"):
        during = post_topic(client, "Written while Redis is down")

    assert (before.status_code, during.status_code) == (201, 201)
    assert Topic.objects.count() == 2
    assert "Rate limits are off for 5.0s: the cache failed" in caplog.text


# Sockets


class Sockets:
    def __init__(self) -> None:
        self.opened: list[WebsocketCommunicator] = []

    async def open(self, user: User) -> WebsocketCommunicator:
        """A signed-in `/ws/messaging/` tab of `user`, past its `ready` and `unread_counts`."""
        client = await sync_to_async(signed_in)(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        communicator = WebsocketCommunicator(
            application,
            "/ws/messaging/",
            headers=[
                (b"origin", b"http://testserver"),
                (b"host", b"testserver"),
                (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
            ],
        )
        self.opened.append(communicator)
        assert await communicator.connect(timeout=TIMEOUT) == (True, None)
        assert (await communicator.receive_json_from(timeout=TIMEOUT))["type"] == "ready"
        assert (await communicator.receive_json_from(timeout=TIMEOUT))["type"] == "unread_counts"
        return communicator


@pytest.fixture
async def sockets(transactional_db: None) -> AsyncIterator[Sockets]:
    opened = Sockets()
    try:
        yield opened
    finally:
        for communicator in opened.opened:
            await communicator.disconnect(timeout=TIMEOUT)


def send_frame(omar: User, number: int) -> Frame:
    return {
        "type": "send",
        "receiver_id": omar.pk,
        "content": f"Message {number}",
        "client_msg_id": f"m{number}",
    }


async def receive_sent_or_error(communicator: WebsocketCommunicator) -> Frame:
    """The next `sent` or `error` frame (stream events of the sender's own messages skipped)."""
    while True:
        frame = await communicator.receive_json_from(timeout=TIMEOUT)
        if frame["type"] in {"sent", "error"}:
            return frame


@pytest.mark.django_db(transaction=True)
async def test_socket_flood_gets_error_frames_and_nothing_past_the_limit_is_written(
    settings: Any, sockets: Sockets, sara: User, omar: User
) -> None:
    settings.RATE_LIMITS = limits(frames=3)
    tab = await sockets.open(sara)

    replies = []
    for number in range(5):
        await tab.send_json_to(send_frame(omar, number))
        replies.append(await receive_sent_or_error(tab))

    assert [reply["type"] for reply in replies] == ["sent"] * 3 + ["error"] * 2
    error = replies[3]
    assert error["code"] == "rate_limited"
    assert error["detail"] == LIMITED["detail"]
    assert error["client_msg_id"] == "m3"
    assert 1 <= error["retry_after"] <= DAY
    contents = await sync_to_async(list)(Message.objects.values_list("content", flat=True))
    assert sorted(contents) == ["Message 0", "Message 1", "Message 2"]


@pytest.mark.django_db(transaction=True)
async def test_socket_typing_over_the_limit_is_dropped_silently(
    settings: Any, sockets: Sockets, sara: User
) -> None:
    settings.RATE_LIMITS = limits(frames=1)
    tab = await sockets.open(sara)
    await tab.send_json_to({"type": "resume", "last_event_id": 0})
    assert (await tab.receive_json_from(timeout=TIMEOUT))["type"] == "resumed"
    assert (await tab.receive_json_from(timeout=TIMEOUT))["type"] == "unread_counts"

    await tab.send_json_to({"type": "typing", "conversation_id": 1})
    await tab.send_json_to({"type": "resume", "last_event_id": 0})

    # The first frame after the dropped typing answers the resume.
    answer = await tab.receive_json_from(timeout=TIMEOUT)
    assert answer["type"] == "error"
    assert answer["code"] == "rate_limited"


@pytest.mark.django_db(transaction=True)
async def test_socket_sends_share_the_write_limit_with_http(
    settings: Any, sockets: Sockets, sara: User, omar: User
) -> None:
    settings.RATE_LIMITS = limits(writes=1)
    client = await sync_to_async(signed_in)(sara)
    created = await sync_to_async(client.post)(
        "/api/v1/messages",
        {"receiver_id": omar.pk, "content": "Over HTTP"},
        content_type="application/json",
    )
    tab = await sockets.open(sara)

    await tab.send_json_to(send_frame(omar, 1))
    reply = await receive_sent_or_error(tab)

    assert created.status_code == 201
    assert (reply["type"], reply["code"]) == ("error", "rate_limited")
    contents = await sync_to_async(list)(Message.objects.values_list("content", flat=True))
    assert contents == ["Over HTTP"]
