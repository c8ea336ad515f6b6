from django.conf import settings
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MIN_TITLE_LENGTH = 8
MAX_TITLE_LENGTH = 150
MAX_CONTENT_LENGTH = 5000
MAX_TAGS = 5
MAX_TAG_LENGTH = 30


class Category(models.Model):
    """Managed by staff in the admin; the first ones come from a data migration."""

    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.CharField(max_length=300, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    """Lower-case, at most MAX_TAG_LENGTH characters; created on first use."""

    name = models.CharField(max_length=MAX_TAG_LENGTH, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Topic(models.Model):
    """A question or discussion. `content` (the opening text) may be empty: a topic may open
    with its title alone. Counters are updated with F() expressions by the services only."""

    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="topics")
    title = models.CharField(max_length=MAX_TITLE_LENGTH)
    content = models.TextField(blank=True, max_length=MAX_CONTENT_LENGTH)
    content_html = models.TextField(blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="topics")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="topics"
    )
    # The author's organization when the topic was opened.
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.SET_NULL, null=True, related_name="topics"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    edited_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(default=timezone.now)
    last_post = models.ForeignKey(
        "Post", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reply_count = models.PositiveIntegerField(default=0)
    view_count = models.PositiveIntegerField(default=0)
    like_count = models.PositiveIntegerField(default=0)
    is_pinned = models.BooleanField(default=False)
    is_locked = models.BooleanField(default=False)
    best_answer = models.ForeignKey(
        "Post", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        indexes = [
            models.Index(fields=["-last_activity_at", "-id"], name="forums_topic_activity"),
            models.Index(
                fields=["category", "-last_activity_at", "-id"], name="forums_topic_cat_activity"
            ),
            models.Index(fields=["author", "-created_at"], name="forums_topic_author"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=GreaterThanOrEqual(Length("title"), MIN_TITLE_LENGTH),
                name="forums_topic_title_min_length",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_solved(self) -> bool:
        return self.best_answer_id is not None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Post(models.Model):
    """A reply. A deleted post stays in place as "post deleted" (its content is cleared)."""

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="posts")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="posts"
    )
    content = models.TextField(max_length=MAX_CONTENT_LENGTH)
    content_html = models.TextField()
    reply_to = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    like_count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["topic", "id"], name="forums_post_topic_id"),
            models.Index(fields=["author", "-created_at"], name="forums_post_author"),
        ]

    def __str__(self) -> str:
        return f"Post {self.pk} in topic {self.topic_id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class TopicLike(models.Model):
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="likes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["topic", "user"], name="forums_one_like_per_topic")
        ]

    def __str__(self) -> str:
        return f"Like of topic {self.topic_id} by user {self.user_id}"


class PostLike(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="likes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["post", "user"], name="forums_one_like_per_post")
        ]

    def __str__(self) -> str:
        return f"Like of post {self.post_id} by user {self.user_id}"


class Bookmark(models.Model):
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="bookmarks")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="forum_bookmarks"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["topic", "user"], name="forums_one_bookmark_per_topic")
        ]

    def __str__(self) -> str:
        return f"Bookmark of topic {self.topic_id} by user {self.user_id}"


class Subscription(models.Model):
    """A user's choice for a topic: follow (notified of replies) or mute (never notified, and
    never followed again automatically). The author and every replier follow automatically
    unless they muted the topic."""

    class Level(models.TextChoices):
        FOLLOWING = "following", _("Following")
        MUTED = "muted", _("Muted")

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="subscriptions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="forum_subscriptions"
    )
    level = models.CharField(max_length=9, choices=Level.choices, default=Level.FOLLOWING)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["topic", "user"], name="forums_one_subscription_per_topic"
            )
        ]
        indexes = [models.Index(fields=["user", "level"], name="forums_subscription_user")]

    def __str__(self) -> str:
        return f"User {self.user_id} {self.level} topic {self.topic_id}"


class TopicView(models.Model):
    """One row per user who opened the topic: the view count counts a user once."""

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["topic", "user"], name="forums_one_view_per_user")
        ]

    def __str__(self) -> str:
        return f"View of topic {self.topic_id} by user {self.user_id}"
