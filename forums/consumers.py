"""The live forum sockets: `/ws/forum/<topic_id>/` (one topic's thread) and `/ws/forum/all/`
(new topics, for list pages).

Protocol (DESIGN.md, "Live protocol"): the client may send `new_post`, `typing` and
`resume`; every event of the topic's group is relayed as it is, except the typist's own
`typing`. A post written over the socket goes through the same service call as over HTTP.

Delivery of posts: the socket answers for every post of the topic with an id in
(`covered_after`, `covered_through`], and for those in `sent_above` (sent live, newer than
`covered_through`): it sent them, or the client said it holds them. That starts empty at the
topic's newest post when the socket opens, so what came before is left to `resume`. A post
already covered is never sent again (a replay and its live copy, or two live copies).

Posts of one topic commit in id order (create_post holds the topic's row), but their live
copies may arrive out of order (two web processes publishing at once): a late copy that is not
covered is still sent, and clients place posts by id. When a live copy names the topic's
previous post (`previous_post_id`) and that one is not covered, the posts missing in between
are read from the database and sent first: a lost live copy costs nothing.
"""

import asyncio
import time
import weakref
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async

from accounts.consumers import (
    SignedInConsumer,
    display_name,
    frame_id,
)
from accounts.events import sessions_group
from accounts.models import User
from forums import events, presence, selectors, services
from forums.exceptions import InvalidContentError
from forums.models import Post
from forums.schemas import PostOut
from p2p_sandbox.errors import AppError

# Sent before accepting a socket for a topic the user may not see (see accounts.consumers for
# the others).
CLOSE_TOPIC_NOT_FOUND = 4404

# Typing signals of one socket closer together than this are dropped.
TYPING_INTERVAL = 2.0
# Presence of a topic is broadcast by each process at most once per this many seconds: with
# many viewers arriving together, one broadcast carries them all. A broadcast is a frame to every
# viewer, so a large audience stretches the interval to keep presence under
# PRESENCE_FRAMES_PER_SECOND frames a second per topic and process (1000 viewers: every 5 s).
PRESENCE_BROADCAST_INTERVAL = 1.0
PRESENCE_FRAMES_PER_SECOND = 200
# A resume (or a gap) of more posts than this is answered `resync_required`: the client
# reloads the thread over HTTP.
RESUME_LIMIT = 500
RESUME_PAGE_SIZE = 100
# Ids sent live past `covered_through` that a socket remembers; past this, the older half is
# taken as covered (a copy arriving later than that many newer posts is dropped).
MAX_SENT_ABOVE = 1000


def get_last_post_id(user: User, topic_id: int) -> int:
    """The id of the topic's newest post (0 without one); TopicNotFoundError when `user` may
    not see the topic."""
    selectors.check_topic_visible(user, topic_id)
    last = Post.objects.filter(topic_id=topic_id).order_by("-id").values_list("id", flat=True)
    return last.first() or 0


def list_post_events(user: User, topic_id: int, after: int) -> list[events.Event] | None:
    """`post_created` events of the posts after `after`, oldest first (deleted ones in their
    deleted form, `is_liked` as `user` sees it); None when there are more than RESUME_LIMIT."""
    posts: list[Post] = []
    while True:
        page = selectors.list_posts(user, topic_id, after=after, limit=RESUME_PAGE_SIZE)
        posts += page
        if len(posts) > RESUME_LIMIT:
            return None
        if len(page) < RESUME_PAGE_SIZE:
            break
        after = page[-1].pk
    return [
        {
            "type": "post_created",
            "topic_id": topic_id,
            "post": PostOut.from_orm(post).model_dump(mode="json"),
        }
        for post in posts
    ]


class ForumConsumer(SignedInConsumer):
    """What both forum sockets share: relaying the events of their groups."""

    async def forum_event(self, message: dict[str, Any]) -> None:
        """{"type": "forum.event", "event": {...}}"""
        if self.is_open:
            await self.send_json(message["event"])


class AllTopicsConsumer(ForumConsumer):
    """`/ws/forum/all/`: `topic_created` for list pages. It accepts no frames."""

    def groups_to_join(self, user_id: int) -> list[str]:
        return [events.ALL_TOPICS_GROUP, sessions_group(user_id)]


def presence_interval(viewer_count: int) -> float:
    return max(PRESENCE_BROADCAST_INTERVAL, viewer_count / PRESENCE_FRAMES_PER_SECOND)


@dataclass
class TopicBroadcasts:
    last_sent: float = float("-inf")
    interval: float = 0.0
    pending: asyncio.Task | None = None


class PresenceBroadcasts:
    """Broadcasts a topic's presence at most once per `presence_interval` from this process: the
    first change at once, later ones together at the end of the interval. The broadcast reads
    the shared store, so it covers every process's viewers."""

    def __init__(self) -> None:
        # Per event loop (a task belongs to its loop): topic id -> its broadcasts.
        self.loops: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[int, TopicBroadcasts]
        ] = weakref.WeakKeyDictionary()

    async def request(self, topic_id: int) -> None:
        topics = self.loops.setdefault(asyncio.get_running_loop(), {})
        if len(topics) > 1000:
            self.forget_quiet_topics(topics)
        state = topics.setdefault(topic_id, TopicBroadcasts())
        if state.pending is not None and not state.pending.done():
            return
        wait = state.last_sent + max(state.interval, PRESENCE_BROADCAST_INTERVAL) - time.monotonic()
        if wait <= 0:
            await self.broadcast(topic_id, state)
        else:
            state.pending = asyncio.create_task(self.broadcast_later(topic_id, state, wait))

    @staticmethod
    def forget_quiet_topics(topics: dict[int, TopicBroadcasts]) -> None:
        """Topics past their interval with nothing pending behave as if never seen."""
        now = time.monotonic()
        for topic_id, state in list(topics.items()):
            quiet = state.pending is None or state.pending.done()
            if quiet and state.last_sent + max(state.interval, PRESENCE_BROADCAST_INTERVAL) < now:
                del topics[topic_id]

    async def broadcast_later(self, topic_id: int, state: TopicBroadcasts, wait: float) -> None:
        await asyncio.sleep(wait)
        await self.broadcast(topic_id, state)

    async def broadcast(self, topic_id: int, state: TopicBroadcasts) -> None:
        state.last_sent = time.monotonic()
        viewers = await presence.alist_viewers(topic_id)
        if viewers is not None:
            count, listed = viewers
            state.interval = presence_interval(count)
            await events.asend_presence(topic_id, count, listed)


presence_broadcasts = PresenceBroadcasts()


class TopicConsumer(ForumConsumer):
    """`/ws/forum/<topic_id>/`: one topic's live thread."""

    topic_id: int
    covered_after: int
    covered_through: int
    write_frames = frozenset({"new_post"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Post id -> the topic's post before it (None if the event did not say).
        self.sent_above: dict[int, int | None] = {}
        self.typing_sent_at: float | None = None
        self.refresher: asyncio.Task | None = None
        self.actions = {
            "new_post": self.handle_new_post,
            "typing": self.handle_typing,
            "resume": self.handle_resume,
        }

    def groups_to_join(self, user_id: int) -> list[str]:
        self.topic_id = int(self.scope["url_route"]["kwargs"]["topic_id"])
        return [events.topic_group(self.topic_id), sessions_group(user_id)]

    async def prepare(self) -> int | None:
        try:
            head = await database_sync_to_async(get_last_post_id)(self.user, self.topic_id)
        except AppError:
            return CLOSE_TOPIC_NOT_FOUND
        self.covered_after = self.covered_through = head
        self.display_name = display_name(self.user)
        return None

    async def opened(self) -> None:
        await presence.ajoin(self.topic_id, self.channel_name, self.user.pk, self.display_name)
        self.refresher = asyncio.create_task(self.refresh_presence())
        await presence_broadcasts.request(self.topic_id)

    async def refresh_presence(self) -> None:
        while True:
            await asyncio.sleep(presence.PRESENCE_REFRESH)
            await presence.arefresh(
                self.topic_id, self.channel_name, self.user.pk, self.display_name
            )

    async def disconnect(self, code: int) -> None:
        await self.leave_groups()
        if self.refresher is not None:
            self.refresher.cancel()
            self.refresher = None
            await presence.aleave(self.topic_id, self.channel_name)
            await presence_broadcasts.request(self.topic_id)

    # Channel layer

    async def forum_event(self, message: dict[str, Any]) -> None:
        if not self.is_open:
            return
        event = message["event"]
        if event["type"] == "post_created":
            await self.deliver_post_created(event)
        elif event["type"] == "typing":
            if event["user"]["id"] != self.user.pk:
                await self.send_json(event)
        else:
            await self.send_json(event)

    async def deliver_post_created(self, event: events.Event) -> None:
        post_id = event["post"]["id"]
        if post_id <= self.covered_through or post_id in self.sent_above:
            return
        # Only for this check: a post reaches the client in the same shape, live or replayed.
        event = dict(event)
        named = "previous_post_id" in event
        previous = event.pop("previous_post_id", None)
        if named and previous is None:
            previous = 0  # the topic's first post
        if (
            previous is not None
            and previous > self.covered_through
            and previous not in self.sent_above
        ):
            await self.replay(after=self.covered_through)
            return
        await self.send_json(event)
        self.sent_above[post_id] = previous
        self.advance()

    def advance(self) -> None:
        """Move `covered_through` up over the posts sent live that follow it without a gap."""
        for post_id in sorted(self.sent_above):
            previous = self.sent_above[post_id]
            if previous is None or previous > self.covered_through:
                break
            self.covered_through = post_id
        if len(self.sent_above) > MAX_SENT_ABOVE:
            self.covered_through = sorted(self.sent_above)[len(self.sent_above) // 2]
        self.forget_covered()

    def forget_covered(self) -> None:
        self.sent_above = {
            post_id: previous
            for post_id, previous in self.sent_above.items()
            if post_id > self.covered_through
        }

    def last_post_id(self) -> int:
        return max([self.covered_through, *self.sent_above])

    # Client frames

    async def handle_new_post(self, content: dict[str, Any]) -> None:
        """{"type": "new_post", "content", "reply_to"?}: the post reaches every viewer, this
        socket too, as `post_created`."""
        text = content.get("content")
        if not isinstance(text, str):
            raise InvalidContentError
        reply_to = content.get("reply_to")
        reply_to_id = None if reply_to is None else frame_id(content, "reply_to")
        await database_sync_to_async(services.create_post)(
            actor=self.user, topic_id=self.topic_id, content=text, reply_to_id=reply_to_id
        )

    async def handle_typing(self, content: dict[str, Any]) -> None:
        now = time.monotonic()
        if self.typing_sent_at is not None and now - self.typing_sent_at < TYPING_INTERVAL:
            return
        self.typing_sent_at = now
        await events.asend_typing(self.topic_id, self.user.pk, self.display_name)

    async def handle_resume(self, content: dict[str, Any]) -> None:
        """{"type": "resume", "after": N}: the posts after N that this socket has not sent,
        oldest first, then `resumed`."""
        after = frame_id(content, "after", minimum=0)
        head = await database_sync_to_async(get_last_post_id)(self.user, self.topic_id)
        if after > head:
            # Not this topic's past (a restored database, another topic's id): start afresh.
            await self.resync(head)
            return
        if await self.replay(after=after):
            await self.send_json(
                {"type": "resumed", "topic_id": self.topic_id, "last_post_id": self.last_post_id()}
            )

    # Helpers

    async def replay(self, *, after: int) -> bool:
        """Send the posts after `after` that are not covered, oldest first; False when the
        client was told to resync instead (too many)."""
        found = await database_sync_to_async(list_post_events)(self.user, self.topic_id, after)
        if found is None:
            head = await database_sync_to_async(get_last_post_id)(self.user, self.topic_id)
            await self.resync(head)
            return False
        for event in found:
            post_id = event["post"]["id"]
            covered = self.covered_after < post_id <= self.covered_through
            if not covered and post_id not in self.sent_above:
                await self.send_json(event)
        # Every post up to the last one found is committed and now covered: later ones commit
        # with higher ids.
        self.covered_after = min(self.covered_after, after)
        self.covered_through = max(
            self.covered_through, after, found[-1]["post"]["id"] if found else 0
        )
        self.forget_covered()
        return True

    async def resync(self, head: int) -> None:
        """The client reloads the thread over HTTP: it then holds everything up to the head."""
        self.covered_through = max(self.covered_through, head)
        self.forget_covered()
        await self.send_json(
            {
                "type": "resync_required",
                "topic_id": self.topic_id,
                "last_post_id": self.last_post_id(),
            }
        )
