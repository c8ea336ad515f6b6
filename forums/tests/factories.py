import factory
from django.db.models import F

from accounts.tests.factories import UserFactory
from forums.models import Category, Post, Tag, Topic
from p2p_sandbox.markdown import render_markdown


def general_category() -> Category:
    """One of the categories the data migration creates (made again after a transactional
    test emptied the table)."""
    return Category.objects.get_or_create(
        slug="general", defaults={"name": "General", "position": 6}
    )[0]


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Plant area {n}")
    slug = factory.Sequence(lambda n: f"plant-area-{n}")
    description = "Questions about one area of the plant."
    position = factory.Sequence(lambda n: 100 + n)


class TopicFactory(factory.django.DjangoModelFactory):
    """A topic as create_topic stores it (without its events, follow or notifications)."""

    class Meta:
        model = Topic
        skip_postgeneration_save = True

    category = factory.LazyFunction(general_category)
    title = factory.Sequence(lambda n: f"How do you tune the PID loop of kiln {n}?")
    content = "The **temperature** overshoots by 15 °C after every burner restart."
    content_html = factory.LazyAttribute(lambda o: render_markdown(o.content) if o.content else "")
    author = factory.SubFactory(UserFactory)
    organization = factory.LazyAttribute(lambda o: o.author.organization if o.author else None)

    @factory.post_generation
    def tags(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        if create and extracted:
            self.tags.set([Tag.objects.get_or_create(name=name)[0] for name in extracted])


class PostFactory(factory.django.DjangoModelFactory):
    """A reply; the topic's reply_count, last_post and last_activity_at follow as create_post
    would move them."""

    class Meta:
        model = Post

    topic = factory.SubFactory(TopicFactory)
    author = factory.SubFactory(UserFactory)
    content = factory.Sequence(lambda n: f"Check the derivative gain first (reply {n}).")
    content_html = factory.LazyAttribute(lambda o: render_markdown(o.content))

    @classmethod
    def _create(cls, model_class: type[Post], *args: object, **kwargs: object) -> Post:
        post = super()._create(model_class, *args, **kwargs)
        if post.deleted_at is None:
            Topic.objects.filter(pk=post.topic_id).update(
                reply_count=F("reply_count") + 1,
                last_post=post,
                last_activity_at=post.created_at,
            )
        return post
