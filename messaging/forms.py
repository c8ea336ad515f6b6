"""Forms of the messaging pages. They check the input; the views hand it to one service each."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.forms import PageForm
from messaging.models import MAX_MESSAGE_LENGTH, EmailFrequency


class MessageForm(PageForm):
    content = forms.CharField(
        label=_("Message"),
        max_length=MAX_MESSAGE_LENGTH,
        widget=forms.Textarea(
            attrs={"rows": 3, "maxlength": MAX_MESSAGE_LENGTH, "autocomplete": "off"}
        ),
    )
    # Chosen when the page is rendered: the same form posted twice stores one message.
    client_msg_id = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)

    error_fields = {"invalid_content": "content"}


class PreferenceForm(PageForm):
    """One notification type's choice: shown in the app or not, and how it is emailed."""

    type = forms.CharField(max_length=40, widget=forms.HiddenInput)
    in_app = forms.BooleanField(label=_("Show in the app"), required=False)
    email = forms.ChoiceField(label=_("Email"), choices=EmailFrequency.choices)

    @classmethod
    def for_type(cls, type: str, **kwargs: Any) -> "PreferenceForm":
        """A row of the preferences page: its inputs get ids of their own (`id_<type>_email`),
        their names stay plain, as every row posts alone."""
        return cls(auto_id=f"id_{type}_%s", **kwargs)
