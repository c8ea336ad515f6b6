"""Forms of the forum pages. They check the input's shape; the rules (title and content
lengths, tags, locked topics) are the services', whose refusals become these forms' errors."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.forms import PageForm
from forums.models import MAX_CONTENT_LENGTH, MAX_TITLE_LENGTH, Category

MARKDOWN_HELP = _(
    "Markdown: **bold**, _italic_, `code`, > quotes, lists and links. No images or HTML."
)


def markdown_field(label: Any, *, required: bool, rows: int) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=MAX_CONTENT_LENGTH,
        help_text=MARKDOWN_HELP,
        widget=forms.Textarea(
            attrs={"rows": rows, "maxlength": MAX_CONTENT_LENGTH, "data-markdown": ""}
        ),
    )


class CategoryField(forms.ModelChoiceField):
    """A category chosen by its slug (so `?category=<slug>` preselects it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            queryset=Category.objects.all(),
            to_field_name="slug",
            empty_label=_("Choose a category"),
            **kwargs,
        )


class TopicUpdateForm(PageForm):
    title = forms.CharField(
        label=_("Title"),
        max_length=MAX_TITLE_LENGTH,
        help_text=_("A question or a subject, in 8 to 150 characters."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    content = markdown_field(_("Text"), required=False, rows=10)
    tags = forms.CharField(
        label=_("Tags"),
        required=False,
        max_length=200,
        help_text=_("Up to 5, separated by commas: plc, predictive maintenance"),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    error_fields = {
        "invalid_title": "title",
        "invalid_content": "content",
        "invalid_tags": "tags",
    }

    def clean_tags(self) -> list[str]:
        return [tag.strip() for tag in self.cleaned_data["tags"].split(",") if tag.strip()]


class TopicForm(TopicUpdateForm):
    category = CategoryField(label=_("Category"))

    field_order = ["category", "title", "content", "tags"]
    error_fields = {**TopicUpdateForm.error_fields, "unknown_category": "category"}


class PostForm(PageForm):
    content = markdown_field(_("Your reply"), required=True, rows=5)
    # The post this one answers: set by a post's "Reply" button.
    reply_to = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    error_fields = {"invalid_content": "content"}


class PostUpdateForm(PageForm):
    content = markdown_field(_("Text"), required=True, rows=8)

    error_fields = {"invalid_content": "content"}


class MoveForm(PageForm):
    category = CategoryField(label=_("Move to"))
