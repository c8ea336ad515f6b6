"""Staff manage categories here and can look up topics and posts. Counters, rendered HTML and
authorship are read-only: the services keep them right, and the live thread is told of changes
made through them (pin, lock, move and delete from the site itself)."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from forums.models import Category, Post, Tag, Topic


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position", "description"]
    list_editable = ["position"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "category",
        "author",
        "reply_count",
        "view_count",
        "like_count",
        "is_pinned",
        "is_locked",
        "last_activity_at",
        "deleted_at",
    ]
    list_filter = ["category", "is_pinned", "is_locked", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["title", "author__email"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "category",
        "title",
        "content",
        "content_html",
        "tags",
        "author",
        "organization",
        "created_at",
        "edited_at",
        "last_activity_at",
        "last_post",
        "reply_count",
        "view_count",
        "like_count",
        "is_pinned",
        "is_locked",
        "best_answer",
        "deleted_at",
        "deleted_by",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Topic]:
        return super().get_queryset(request).select_related("category", "author")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Topics are soft deleted through the site, which also tells the live thread.
        return False


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ["__str__", "topic", "author", "created_at", "like_count", "deleted_at"]
    list_filter = [("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["content", "author__email", "topic__title"]
    readonly_fields = [f.name for f in Post._meta.fields if f.name != "id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Post]:
        return super().get_queryset(request).select_related("topic", "author")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
