"""Demo forum topics for `manage.py seed_demo`: questions between the demo factories, with
replies, a best answer where one was found, likes, bookmarks and views.

Idempotent: a topic whose author already has a topic of that title is left as it is. Replies
are stored without notifying anyone (no emails at seeding time). Run after
accounts.demo.seed_demo_accounts(); people who are missing are skipped.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from forums import services
from forums.models import Post, Topic

MODERATOR = "moderator@p2psandbox.example"


@dataclass(frozen=True)
class DemoTopic:
    author: str
    category: str
    title: str
    content: str
    tags: list[str]
    days_ago: int
    # (author, content, index of the reply it answers or None); index into this list.
    replies: list[tuple[str, str, int | None]] = field(default_factory=list)
    best_answer: int | None = None
    pinned: bool = False
    liked_by: list[str] = field(default_factory=list)
    bookmarked_by: list[str] = field(default_factory=list)


TOPICS = [
    DemoTopic(
        author=MODERATOR, category="general", pinned=True, days_ago=40,
        title="Welcome to the P2P Sandbox forums: how to ask a good question",
        content="Tell us **what you run** (machine, line, volumes), **what you tried**, and "
                "**what you measured**. Photos of nameplates and alarm screens help.\n\n"
                "Mark the reply that solved your problem as the best answer so the next "
                "factory finds it.",
        tags=["community", "guidelines"],
    ),
    DemoTopic(
        author="omar@gulfprecision.example", category="maintenance", days_ago=9,
        title="Vibration alarms on CNC spindles: how did you set the first thresholds?",
        content="We fitted wireless triaxial sensors on five spindles. The vendor default "
                "(ISO 10816 zone C) raises alarms on **every tool change**.\n\n"
                "Did you start from the standard or from a baseline of your own machines?",
        tags=["vibration analysis", "cnc", "predictive maintenance"],
        replies=[
            ("noura@easternenergy.example",
             "Baseline first. We logged two weeks of normal running per machine and set the "
             "warning at the 99th percentile plus 20%. Then mask the alarms for 30 s after a "
             "tool change signal from the PLC.", None),
            ("yousef@easternenergy.example",
             "Same here on our compressors. Also trend **envelope acceleration**, not only "
             "velocity RMS: bearing defects show there weeks earlier.", 0),
            ("omar@gulfprecision.example",
             "Masking on the tool-change signal removed 90% of the false alarms in one week. "
             "Thank you both!", 0),
        ],
        best_answer=0,
        liked_by=["sara@gulfprecision.example", "tariq@yanbupharma.example"],
        bookmarked_by=["yousef@easternenergy.example"],
    ),
    DemoTopic(
        author="khalid@najdfoods.example", category="artificial-intelligence", days_ago=7,
        title="Machine vision under glare from overhead lamps on a bottling line",
        content="Our cap inspection camera misses defects when the conveyor passes under the "
                "high-bay lamps. Polarising filter or a light tunnel?",
        tags=["machine vision", "packaging"],
        replies=[
            ("tariq@yanbupharma.example",
             "A diffuse dome or tunnel is the robust fix; a polariser alone costs you a lot of "
             "light at 600 bottles a minute.", None),
            ("lina@gulfprecision.example",
             "Whatever you choose, re-validate with a **golden sample set** of good and bad "
             "caps each shift for the first month.", None),
        ],
        liked_by=["aisha@najdfoods.example"],
    ),
    DemoTopic(
        author="fatimah@redseaplastics.example", category="energy-efficiency", days_ago=5,
        title="Servo-hydraulic retrofit on injection moulding machines: real savings?",
        content="Vendors promise 40-60% less energy per cycle. Has anyone measured it on "
                "machines older than ten years?",
        tags=["injection moulding", "energy metering"],
        replies=[
            ("yousef@easternenergy.example",
             "Meter one machine for a month **before** the retrofit, same mould and cycle "
             "time, or you will argue about the baseline forever.", None),
            ("sara@gulfprecision.example",
             "We measured 38% on a 250 t machine from 2009. Payback was 22 months at our tariff.",
             None),
            ("fatimah@redseaplastics.example",
             "Very useful, thank you. We will meter two machines from next week.", 1),
        ],
        best_answer=1,
        liked_by=["maha@yanbupharma.example", "omar@gulfprecision.example"],
        bookmarked_by=["maha@yanbupharma.example"],
    ),
    DemoTopic(
        author="tariq@yanbupharma.example", category="automation", days_ago=4,
        title="Migrating S7-300 PLCs to S7-1500 without a long shutdown",
        content="We have 14 S7-300 CPUs on a tablet press line. Did anyone migrate in "
                "stages, with both generations talking over PROFINET?",
        tags=["plc", "siemens", "migration"],
        replies=[
            ("omar@gulfprecision.example",
             "We did it cell by cell over four weekends, with I-device couplers between the old "
             "and new CPUs. Test the **watchdog timings** on the couplers.", None),
        ],
        liked_by=["khalid@najdfoods.example"],
    ),
    DemoTopic(
        author="aisha@najdfoods.example", category="quality-management", days_ago=3,
        title="SPC on filling weights: which control chart for high-speed lines?",
        content="We sample 5 bottles every 10 minutes. X-bar and R, or an EWMA chart to "
                "catch small drifts of the filler?",
        tags=["spc", "food safety"],
        replies=[
            ("lina@gulfprecision.example",
             "EWMA (lambda 0.2) catches the slow drift of a filler valve much sooner. Keep "
             "X-bar/R for the audit trail if your customers ask for it.", None),
        ],
        bookmarked_by=["khalid@najdfoods.example"],
    ),
    DemoTopic(
        author="faisal@qassimlogistics.example", category="iot", days_ago=2,
        title="Temperature loggers in cold-chain trucks: LoRaWAN or cellular?",
        content="Our routes leave the cities for hours. What coverage did you get with "
                "LoRaWAN gateways at the depots versus LTE-M loggers?",
        tags=["cold chain", "lorawan", "telematics"],
        replies=[
            ("yousef@easternenergy.example",
             "LTE-M with store-and-forward: the logger keeps readings while out of coverage "
             "and uploads at the next tower.", None),
        ],
    ),
    DemoTopic(
        author="maha@yanbupharma.example", category="general", days_ago=1,
        title="Has anyone run a 5S program in a GMP cleanroom?",
        content="Looking for examples of shadow boards and labelling that passed an audit.",
        tags=["lean", "gmp"],
    ),
]  # fmt: skip


def create_demo_forums() -> list[Topic]:
    """Create the demo topics that are missing; answers those created."""
    people = {user.email: user for user in User.objects.filter(email__endswith=".example")}
    moderator = people.get(MODERATOR)
    now = timezone.now()
    created = []
    for demo in TOPICS:
        author = people.get(demo.author)
        if author is None or Topic.objects.filter(author=author, title=demo.title).exists():
            continue
        if any(email not in people for email, _, _ in demo.replies):
            continue
        with transaction.atomic():
            created.append(create_demo_topic(demo, people, moderator, now))
    return created


def create_demo_topic(
    demo: DemoTopic, people: dict[str, User], moderator: User | None, now: datetime
) -> Topic:
    author = people[demo.author]
    opened_at = now - timedelta(days=demo.days_ago)
    topic = services.create_topic(
        actor=author,
        category=demo.category,
        title=demo.title,
        content=demo.content,
        tags=demo.tags,
    )
    posts: list[Post] = []
    for email, content, answers in demo.replies:
        reply_to_id = posts[answers].pk if answers is not None else None
        posts.append(
            services.store_post(
                actor=people[email], topic_id=topic.pk, content=content, reply_to_id=reply_to_id
            )
        )
    # Spread the thread over its days, as it would have happened.
    step = timedelta(days=demo.days_ago) / (len(posts) + 1) if demo.days_ago else timedelta(0)
    for position, post in enumerate(posts, start=1):
        Post.objects.filter(pk=post.pk).update(created_at=opened_at + step * position)
    last_activity = opened_at + step * len(posts)
    Topic.objects.filter(pk=topic.pk).update(created_at=opened_at, last_activity_at=last_activity)
    if demo.best_answer is not None:
        services.mark_best_answer(
            actor=author, topic_id=topic.pk, post_id=posts[demo.best_answer].pk
        )
    if demo.pinned and moderator is not None:
        services.set_pinned(actor=moderator, topic_id=topic.pk, pinned=True)
    for email in demo.liked_by:
        if email in people:
            services.toggle_topic_like(actor=people[email], topic_id=topic.pk)
    if posts:
        for email in demo.liked_by:
            if email in people and people[email].pk != posts[0].author_id:
                services.toggle_post_like(actor=people[email], post_id=posts[0].pk)
    for email in demo.bookmarked_by:
        if email in people:
            services.toggle_bookmark(actor=people[email], topic_id=topic.pk)
    for position, email in enumerate(sorted(people)):
        if people[email].pk != author.pk and (position + demo.days_ago) % 3:
            services.record_view(actor=people[email], topic_id=topic.pk)
    return topic
