"""The forum pages: home, category, topic (the live thread), new topic, edit and delete pages,
the topic and post buttons, and "my topics". Each works without JavaScript, one service call per
POST; static/js/forum.js makes the lists and the thread live over /ws/forum/.

A topic page shows the newest POST_PAGE_SIZE replies (or those `?before=` an id) oldest first;
the script appends what arrives live and, on (re)connect, asks the socket to `resume` after the
newest reply the page holds, so a reply posted between the render and the connection is not
missed.
"""

from http import HTTPStatus
from typing import Any

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from accounts.models import User
from accounts.views import AccountPageMixin, ServiceFormView
from forums import selectors, services
from forums.exceptions import PostNotFoundError, UnknownCategoryError
from forums.forms import MoveForm, PostForm, PostUpdateForm, TopicForm, TopicUpdateForm
from forums.models import MAX_CONTENT_LENGTH, Category, Post, Topic
from forums.schemas import excerpt, person_name
from p2p_sandbox.errors import AppError
from p2p_sandbox.markdown import render_markdown

TOPICS_PAGE_SIZE = 20
POST_PAGE_SIZE = selectors.POST_PAGE_SIZE
# `before` for the newest page of replies: older than any id.
NEWEST = 2**63 - 1
LIST_FILTERS = ("recent", "unanswered", "solved")
MY_TABS = {"topics": None, "following": "following", "bookmarks": "bookmarked"}


class InvalidActionError(AppError):
    code = "invalid_action"
    message = "This button sent a value it does not know."


def topic_url(topic_id: int) -> str:
    return reverse("forums:topic-detail", args=[topic_id])


def post_anchor(topic_id: int, post_id: int) -> str:
    return f"{topic_url(topic_id)}#post-{post_id}"


def author_name(person: User | None) -> str:
    """A person's name as the live events give it (PersonBriefOut.full_name)."""
    return person_name(person) or _("Former member")


def is_allowed(check: Any, *args: Any) -> bool:
    """Whether a services.check_... passes (it raises when not)."""
    try:
        check(*args)
    except AppError:
        return False
    return True


def get_page(request: HttpRequest, rows: QuerySet[Topic]) -> Page:
    return Paginator(rows, TOPICS_PAGE_SIZE).get_page(request.GET.get("page"))


def describe_topics(topics: Any) -> list[Topic]:
    """Rows of a topic list (list_topics' topics), with the names the row shows."""
    topics = list(topics)
    for topic in topics:
        topic.author_name = author_name(topic.author)
        topic.last_post_author_name = (
            author_name(topic.last_post.author) if topic.last_post_id else ""
        )
    return topics


class ForumPageMixin(AccountPageMixin):
    """A signed-in, verified member's page. A refusal that is not about a form's input shows
    the 404 or 403 page, or goes back to `page_url` with the message."""

    page_url = "forums:home"


class TopicListMixin(ForumPageMixin):
    """A page of topics with the "recent / unanswered / solved" filters and a tag filter. The
    pinned topics are shown apart (and left out of the list) on the unfiltered first view."""

    category: Category | None = None

    def get_filter(self) -> str:
        value = self.request.GET.get("filter", "recent")
        return value if value in LIST_FILTERS else "recent"

    def get_tag(self) -> str:
        return " ".join(self.request.GET.get("tag", "").split()).lower()[:60]

    def list_context(self) -> dict[str, Any]:
        user = self.request.user
        filter, tag = self.get_filter(), self.get_tag()
        topics = selectors.list_topics(user, category=self.category, tag=tag or None, filter=filter)
        pinned: list[Topic] = []
        shows_pinned_apart = filter == "recent" and not tag
        if shows_pinned_apart:
            topics = topics.filter(is_pinned=False)
        page = get_page(self.request, topics)
        if shows_pinned_apart and page.number == 1:
            pinned = describe_topics(selectors.list_pinned_topics(user, category=self.category))
        return {
            "filter": filter,
            "filters": [
                ("recent", _("Recent")),
                ("unanswered", _("Unanswered")),
                ("solved", _("Solved")),
            ],
            "tag": tag,
            "page": page,
            "topics": describe_topics(page.object_list),
            "pinned_topics": pinned,
            # The live "N new topics" banner makes sense where new topics would show first.
            "is_live_list": filter == "recent" and not tag and page.number == 1,
        }


class HomeView(TopicListMixin, TemplateView):
    template_name = "forums/home.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            categories=selectors.list_categories(), **self.list_context(), **kwargs
        )


class CategoryDetailView(TopicListMixin, TemplateView):
    template_name = "forums/category_detail.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            self.category = selectors.get_category(kwargs["slug"])
        except UnknownCategoryError as error:
            raise Http404(error.message) from error
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(category=self.category, **self.list_context(), **kwargs)


class MyTopicsView(ForumPageMixin, TemplateView):
    """The member's own topics, the ones they follow and the ones they bookmarked."""

    template_name = "forums/my_topics.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        tab = self.request.GET.get("tab", "topics")
        if tab not in MY_TABS:
            tab = "topics"
        if tab == "topics":
            topics = selectors.list_topics(user, author_id=user.pk)
        else:
            topics = selectors.list_topics(user, filter=MY_TABS[tab])
        page = get_page(self.request, topics)
        return super().get_context_data(
            tab=tab,
            tabs=[
                ("topics", _("My topics")),
                ("following", _("Following")),
                ("bookmarks", _("Bookmarks")),
            ],
            page=page,
            topics=describe_topics(page.object_list),
            **kwargs,
        )


# Markdown preview


class PreviewMixin:
    """A form with a "Preview" submit button (name="preview"): the form comes back with the
    rendered text and nothing is saved. Without JavaScript this is the preview; with it,
    forum.js asks PreviewView instead."""

    request: HttpRequest
    preview_field = "content"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if "preview" not in request.POST:
            return super().post(request, *args, **kwargs)  # type: ignore[misc]
        form = self.get_form()  # type: ignore[attr-defined]
        text = request.POST.get(self.preview_field, "")
        preview = render_markdown(text[:MAX_CONTENT_LENGTH]) if text.strip() else ""
        return self.render_to_response(  # type: ignore[attr-defined]
            self.get_context_data(form=form, preview=preview, is_preview=True)  # type: ignore[attr-defined]
        )


class PreviewView(View):
    """POST `content` (form-encoded, with the CSRF token): `{"html": <the rendered, sanitized
    HTML>}` as a post or topic would show it. Signed-in, verified members only."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> JsonResponse:
        user = request.user
        if not user.is_authenticated:
            return JsonResponse(
                {"detail": _("Sign in to preview."), "code": "not_authenticated"},
                status=HTTPStatus.UNAUTHORIZED,
            )
        if not user.is_email_verified:
            return JsonResponse(
                {"detail": _("Verify your email address first."), "code": "email_not_verified"},
                status=HTTPStatus.FORBIDDEN,
            )
        content = request.POST.get("content", "")
        if len(content) > MAX_CONTENT_LENGTH:
            return JsonResponse(
                {
                    "detail": _("The text has %(count)d characters; at most %(max)d fit.")
                    % {"count": len(content), "max": MAX_CONTENT_LENGTH},
                    "code": "invalid_content",
                },
                status=HTTPStatus.UNPROCESSABLE_ENTITY,
            )
        return JsonResponse({"html": render_markdown(content)})


# A topic


class TopicDetailView(ForumPageMixin, PreviewMixin, ServiceFormView):
    """The topic, a page of its replies and the reply form. Opening it counts the view."""

    template_name = "forums/topic_detail.html"
    form_class = PostForm

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        services.record_view(actor=request.user, topic_id=kwargs["topic_id"])
        return super().get(request, *args, **kwargs)

    def get_before(self) -> int | None:
        before = self.request.GET.get("before", "")
        return int(before) if before.isdigit() and 0 < int(before) < NEWEST else None

    def get_reply_to(self) -> int | None:
        reply_to = self.request.GET.get("reply_to", "")
        return int(reply_to) if reply_to.isdigit() and 0 < int(reply_to) < NEWEST else None

    def get_initial(self) -> dict[str, Any]:
        # A "Reply" link (?reply_to=<post id>) of a post that cannot be answered is ignored.
        self.reply_to = (
            None if self.request.method != "GET" else self.find_reply_to(self.get_reply_to())
        )
        return {"reply_to": self.reply_to.pk if self.reply_to else None}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        topic = selectors.get_topic(user, self.kwargs["topic_id"])
        before = self.get_before()
        rows = selectors.list_posts(
            user, topic.pk, before=before or NEWEST, limit=POST_PAGE_SIZE + 1
        )
        has_older = len(rows) > POST_PAGE_SIZE
        posts = rows[-POST_PAGE_SIZE:]
        can_mark_best = is_allowed(services.check_can_edit, user, topic) and not topic.is_deleted
        for post in posts:
            self.describe_post(post, can_mark_best=can_mark_best)
        form = kwargs.pop("form", None) or self.get_form()
        is_moderator = is_allowed(services.check_can_moderate, user)
        return super().get_context_data(
            form=form,
            topic=topic,
            topic_author_name=author_name(topic.author),
            tags=[tag.name for tag in topic.tags.all()],
            posts=posts,
            has_older=has_older,
            oldest_id=posts[0].pk if posts else None,
            is_latest_page=before is None,
            can_edit_topic=is_allowed(services.check_can_edit, user, topic),
            can_delete_topic=is_allowed(services.check_can_delete, user, topic),
            can_mark_best=can_mark_best,
            is_moderator=is_moderator,
            move_form=MoveForm(initial={"category": topic.category.slug}) if is_moderator else None,
            replying_to=(
                self.find_reply_to(form["reply_to"].value()) if form.is_bound else self.reply_to
            ),
            topic_state={
                "topic_id": topic.pk,
                "user_id": user.pk,
                "is_staff": user.is_staff,
                "can_mark_best": can_mark_best,
                "last_post_id": posts[-1].pk if posts and before is None else None,
                "is_latest_page": before is None,
                "best_answer_id": topic.best_answer_id,
            },
            **kwargs,
        )

    def describe_post(self, post: Post, *, can_mark_best: bool) -> None:
        user = self.request.user
        post.author_name = author_name(post.author)
        post.organization_name = (
            post.author.organization.name if post.author and post.author.organization_id else ""
        )
        if post.reply_to_id:
            quoted = post.reply_to
            post.reply_to_author_name = author_name(quoted.author)
            post.reply_to_excerpt = "" if quoted.is_deleted else excerpt(quoted.content_html)
        post.can_edit = not post.is_deleted and is_allowed(services.check_can_edit, user, post)
        post.can_delete = not post.is_deleted and is_allowed(services.check_can_delete, user, post)
        post.can_mark_best = can_mark_best and not post.is_deleted

    def find_reply_to(self, reply_to_id: Any) -> Post | None:
        """The post the reply form answers, when it is a live post of this topic."""
        try:
            reply_to_id = int(reply_to_id)
            post = selectors.get_post(self.request.user, reply_to_id)
        except (TypeError, ValueError, PostNotFoundError):
            return None
        if post.topic_id != self.kwargs["topic_id"] or post.is_deleted:
            return None
        post.author_name = author_name(post.author)
        return post

    def perform(self, form: PostForm) -> HttpResponse:
        post = services.create_post(
            actor=self.request.user,
            topic_id=self.kwargs["topic_id"],
            content=form.cleaned_data["content"],
            reply_to_id=form.cleaned_data["reply_to"],
        )
        return redirect(post_anchor(post.topic_id, post.pk))


class PostDetailView(ForumPageMixin, View):
    """A post's address: its topic's page that shows it, at the post."""

    def get(self, request: HttpRequest, post_id: int) -> HttpResponse:
        post = selectors.get_post(request.user, post_id)
        newer = selectors.list_posts(
            request.user, post.topic_id, after=post.pk, limit=POST_PAGE_SIZE
        )
        url = topic_url(post.topic_id)
        if len(newer) >= POST_PAGE_SIZE:
            url += f"?before={post.pk + 1}"
        return redirect(f"{url}#post-{post.pk}")


# New topic, editing


class TopicCreateView(ForumPageMixin, PreviewMixin, ServiceFormView):
    template_name = "forums/topic_form.html"
    form_class = TopicForm

    def get_initial(self) -> dict[str, Any]:
        slug = self.request.GET.get("category", "")
        return {"category": slug} if slug else {}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(is_new=True, **kwargs)

    def perform(self, form: TopicForm) -> HttpResponse:
        topic = services.create_topic(
            actor=self.request.user,
            category=form.cleaned_data["category"],
            title=form.cleaned_data["title"],
            content=form.cleaned_data["content"],
            tags=form.cleaned_data["tags"],
        )
        messages.success(self.request, _("Your topic is published."))
        return redirect(topic_url(topic.pk))


class EditMixin:
    """A page for the author (or staff) of one topic or post: anyone else gets the 403 page,
    for GET and POST alike."""

    request: HttpRequest
    kwargs: dict[str, Any]

    def load(self) -> None:
        raise NotImplementedError

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.load()
        return super().get(request, *args, **kwargs)  # type: ignore[misc]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.load()
        return super().post(request, *args, **kwargs)  # type: ignore[misc]


class TopicUpdateView(ForumPageMixin, EditMixin, PreviewMixin, ServiceFormView):
    template_name = "forums/topic_form.html"
    form_class = TopicUpdateForm

    def load(self) -> None:
        self.topic = selectors.get_topic(self.request.user, self.kwargs["topic_id"])
        services.check_can_edit(self.request.user, self.topic)

    def get_initial(self) -> dict[str, Any]:
        return {
            "title": self.topic.title,
            "content": self.topic.content,
            "tags": ", ".join(tag.name for tag in self.topic.tags.all()),
        }

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(topic=self.topic, is_new=False, **kwargs)

    def perform(self, form: TopicUpdateForm) -> HttpResponse:
        services.update_topic(
            actor=self.request.user,
            topic_id=self.topic.pk,
            title=form.cleaned_data["title"],
            content=form.cleaned_data["content"],
            tags=form.cleaned_data["tags"],
        )
        messages.success(self.request, _("Your changes are saved."))
        return redirect(topic_url(self.topic.pk))


class PostUpdateView(ForumPageMixin, EditMixin, PreviewMixin, ServiceFormView):
    template_name = "forums/post_form.html"
    form_class = PostUpdateForm

    def load(self) -> None:
        self.post_object = selectors.get_post(self.request.user, self.kwargs["post_id"])
        if self.post_object.is_deleted:
            raise PostNotFoundError
        services.check_can_edit(self.request.user, self.post_object)

    def get_initial(self) -> dict[str, Any]:
        return {"content": self.post_object.content}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        topic = selectors.get_topic(self.request.user, self.post_object.topic_id)
        return super().get_context_data(post=self.post_object, topic=topic, **kwargs)

    def perform(self, form: PostUpdateForm) -> HttpResponse:
        post = services.update_post(
            actor=self.request.user,
            post_id=self.post_object.pk,
            content=form.cleaned_data["content"],
        )
        messages.success(self.request, _("Your changes are saved."))
        return redirect(post_anchor(post.topic_id, post.pk))


# Deleting: a POST with `confirmed` deletes; without it (or on GET) the page asks first.


class DeleteMixin(ForumPageMixin):
    template_name = "forums/delete_confirm.html"

    def load(self) -> Topic | Post:
        raise NotImplementedError

    def confirm(self, target: Topic | Post, **context: Any) -> TemplateResponse:
        return TemplateResponse(self.request, self.template_name, {"target": target, **context})

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.ask()

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.POST.get("confirmed") != "yes":
            return self.ask()
        return self.delete()

    def ask(self) -> HttpResponse:
        raise NotImplementedError

    def delete(self) -> HttpResponse:
        raise NotImplementedError


class TopicDeleteView(DeleteMixin, View):
    def ask(self) -> HttpResponse:
        topic = selectors.get_topic(self.request.user, self.kwargs["topic_id"])
        services.check_can_delete(self.request.user, topic)
        return self.confirm(
            topic,
            kind="topic",
            action=reverse("forums:topic-delete", args=[topic.pk]),
            back=topic_url(topic.pk),
        )

    def delete(self) -> HttpResponse:
        topic = services.delete_topic(actor=self.request.user, topic_id=self.kwargs["topic_id"])
        messages.success(self.request, _("The topic is deleted."))
        return redirect("forums:category-detail", topic.category.slug)


class PostDeleteView(DeleteMixin, View):
    def ask(self) -> HttpResponse:
        post = selectors.get_post(self.request.user, self.kwargs["post_id"])
        if post.is_deleted:
            raise PostNotFoundError
        services.check_can_delete(self.request.user, post)
        post.author_name = author_name(post.author)
        return self.confirm(
            post,
            kind="post",
            action=reverse("forums:post-delete", args=[post.pk]),
            back=post_anchor(post.topic_id, post.pk),
        )

    def delete(self) -> HttpResponse:
        post = services.delete_post(actor=self.request.user, post_id=self.kwargs["post_id"])
        messages.success(self.request, _("The post is deleted."))
        return redirect(post_anchor(post.topic_id, post.pk))


# Buttons of a topic and its posts: POST only, one service call, back to the topic.


class TopicActionView(ForumPageMixin, View):
    http_method_names = ["post"]

    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().setup(request, *args, **kwargs)  # type: ignore[misc]
        self.page_url = topic_url(kwargs["topic_id"])

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        message = self.perform(kwargs["topic_id"])
        if message:
            messages.success(request, message)
        return redirect(self.get_success_url())

    def get_success_url(self) -> str:
        return self.page_url

    def perform(self, topic_id: int) -> str:
        """Call the service; return the confirmation to show, if any."""
        raise NotImplementedError

    def flag(self, name: str) -> bool:
        value = self.request.POST.get(name)
        if value not in {"true", "false"}:
            raise InvalidActionError
        return value == "true"


class TopicLikeView(TopicActionView):
    def perform(self, topic_id: int) -> str:
        services.toggle_topic_like(actor=self.request.user, topic_id=topic_id)
        return ""


class TopicBookmarkView(TopicActionView):
    def perform(self, topic_id: int) -> str:
        if services.toggle_bookmark(actor=self.request.user, topic_id=topic_id):
            return _("The topic is in your bookmarks.")
        return _("The topic is no longer in your bookmarks.")


class TopicSubscriptionView(TopicActionView):
    def perform(self, topic_id: int) -> str:
        level = self.request.POST.get("level")
        if level not in {"following", "muted", ""}:
            raise InvalidActionError
        level = services.set_subscription(
            actor=self.request.user, topic_id=topic_id, level=level or None
        )
        if level == "following":
            return _("You follow this topic: replies are notified to you.")
        if level == "muted":
            return _("The topic is muted: you get no notifications of it.")
        return _("You no longer follow this topic.")


class BestAnswerView(TopicActionView):
    def perform(self, topic_id: int) -> str:
        value = self.request.POST.get("post_id", "")
        if value and not value.isdigit():
            raise InvalidActionError
        self.post_id = int(value) if value else None
        services.mark_best_answer(actor=self.request.user, topic_id=topic_id, post_id=self.post_id)
        if self.post_id is None:
            return _("The topic has no best answer now.")
        return _("The best answer is marked.")

    def get_success_url(self) -> str:
        return f"{self.page_url}#post-{self.post_id}" if self.post_id else self.page_url


class TopicPinView(TopicActionView):
    def perform(self, topic_id: int) -> str:
        pinned = self.flag("pinned")
        services.set_pinned(actor=self.request.user, topic_id=topic_id, pinned=pinned)
        return _("The topic is pinned.") if pinned else _("The topic is no longer pinned.")


class TopicLockView(TopicActionView):
    def perform(self, topic_id: int) -> str:
        locked = self.flag("locked")
        services.set_locked(actor=self.request.user, topic_id=topic_id, locked=locked)
        return _("The topic is locked.") if locked else _("The topic is open to replies again.")


class TopicMoveView(TopicActionView):
    def perform(self, topic_id: int) -> str:
        form = MoveForm(self.request.POST)
        if not form.is_valid():
            raise UnknownCategoryError
        topic = services.move_topic(
            actor=self.request.user, topic_id=topic_id, category=form.cleaned_data["category"]
        )
        return _("The topic is moved to %(category)s.") % {"category": topic.category.name}


class PostLikeView(ForumPageMixin, View):
    http_method_names = ["post"]

    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().setup(request, *args, **kwargs)  # type: ignore[misc]
        self.page_url = reverse("forums:post-detail", args=[kwargs["post_id"]])

    def post(self, request: HttpRequest, post_id: int) -> HttpResponse:
        services.toggle_post_like(actor=request.user, post_id=post_id)
        return redirect(self.page_url)
