from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from forums import events, presence
from forums.models import Category
from forums.tests.factories import CategoryFactory, PostFactory, TopicFactory, general_category


@pytest.fixture
def topic_factory(db: None) -> type[TopicFactory]:
    return TopicFactory


@pytest.fixture
def post_factory(db: None) -> type[PostFactory]:
    return PostFactory


@pytest.fixture
def category_factory(db: None) -> type[CategoryFactory]:
    return CategoryFactory


@pytest.fixture
def general(db: None) -> Category:
    return general_category()


@pytest.fixture
def sent_events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every (group, event) that events.py sends on the channel layer from now on (sends
    happen after commit: run the write under django_capture_on_commit_callbacks(execute=True))."""
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(events, "send_to_group", lambda group, event: sent.append((group, event)))
    return sent


@pytest.fixture
def viewing() -> Iterator[Callable[[int, int], None]]:
    """viewing(topic_id, user_id): mark the user as viewing the topic through presence's API;
    every entry is removed at the end of the test."""
    entries: list[tuple[int, str]] = []

    def join(topic_id: int, user_id: int) -> None:
        connection_id = f"test-{topic_id}-{user_id}-{len(entries)}"
        async_to_sync(presence.ajoin)(topic_id, connection_id, user_id, f"User {user_id}")
        entries.append((topic_id, connection_id))

    yield join
    for topic_id, connection_id in entries:
        async_to_sync(presence.aleave)(topic_id, connection_id)


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """`with run_on_commit():` runs the on-commit callbacks (events, tasks) of the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
