"""The messaging pages: inbox, conversation, the "Message" button, notifications, notification
preferences and email unsubscribe. Each works without JavaScript, one service call per POST;
static/js/messaging.js makes them live over the personal stream.

A page the script keeps up to date carries `data-last-event-id`: the head of the user's stream,
read before the page's own state, so an event that commits in between is replayed on `resume`
(and dropped by the script as a duplicate) instead of being missed.
"""

import uuid
from http import HTTPStatus
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import TemplateView

from accounts.models import User
from accounts.views import AccountPageMixin, ActionView, ServiceFormView
from messaging import emails, selectors, services
from messaging.exceptions import (
    BlockedError,
    InvalidUnsubscribeTokenError,
    RecipientInactiveError,
    YouBlockedError,
)
from messaging.forms import MessageForm, PreferenceForm
from messaging.models import Message, Stream
from messaging.notification_types import NOTIFICATION_TYPES
from messaging.schemas import PersonBriefOut
from p2p_sandbox.errors import AppError
from p2p_sandbox.markdown import to_plain_text

CONVERSATIONS_PAGE_SIZE = 30
NOTIFICATIONS_PAGE_SIZE = 30
EXCERPT_LENGTH = 120
PREFILL_MAX_LENGTH = 500


def stream_head(user_id: int) -> int:
    """The id of the user's newest stream event, 0 before their first."""
    head = Stream.objects.filter(user_id=user_id).values_list("last_event_id", flat=True).first()
    return head or 0


def display_name(person: User) -> str:
    """A person's name as the API and the live events give it, so a page and its live updates
    agree."""
    return PersonBriefOut.resolve_full_name(person)


def excerpt(message: Message | None) -> str:
    if message is None or message.is_deleted:
        return ""
    return Truncator(to_plain_text(message.content_html)).chars(EXCERPT_LENGTH)


class MessagingPageMixin(AccountPageMixin):
    """A signed-in, verified user's page, with the stream head and the header's unread counts."""

    last_event_id: int | None = None

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.last_event_id = stream_head(request.user.pk)
        return super().get(request, *args, **kwargs)  # type: ignore[misc]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        if self.last_event_id is None:  # a form re-rendered by its POST
            self.last_event_id = stream_head(self.request.user.pk)
        context = super().get_context_data(**kwargs)  # type: ignore[misc]
        context["last_event_id"] = self.last_event_id
        context["unread_counts"] = selectors.get_unread_counts(self.request.user.pk)
        return context


# Inbox


class InboxView(MessagingPageMixin, TemplateView):
    template_name = "messaging/inbox.html"
    archived = False

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        paginator = Paginator(
            selectors.list_conversations(user.pk, archived=self.archived),
            CONVERSATIONS_PAGE_SIZE,
        )
        page = paginator.get_page(self.request.GET.get("page"))
        conversations = selectors.describe_conversations(list(page.object_list))
        for conversation in conversations:
            others = [p for p in conversation["participants"] if p.pk != user.pk]
            conversation["other"] = (
                others[0] if conversation["kind"] == "direct" and others else None
            )
            conversation["name"] = conversation["title"] or ", ".join(
                display_name(p) for p in others
            )
            conversation["excerpt"] = excerpt(conversation["last_message"])
        return super().get_context_data(
            page=page, conversations=conversations, archived=self.archived, **kwargs
        )


# One conversation


class ConversationView(MessagingPageMixin, ServiceFormView):
    """The newest messages (or those `?before=` an id), oldest first, and the send form.

    Opening the newest page marks the conversation read, so reading works without JavaScript
    too; the script marks what arrives later while the page is visible.
    """

    template_name = "messaging/conversation.html"
    form_class = MessageForm
    page_url = "messaging:inbox"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.last_event_id = stream_head(request.user.pk)
        if self.get_before() is None:
            services.mark_conversation_read(
                actor=request.user, conversation_id=self.kwargs["conversation_id"]
            )
        return super(MessagingPageMixin, self).get(request, *args, **kwargs)

    def get_before(self) -> int | None:
        before = self.request.GET.get("before", "")
        return int(before) if before.isdigit() else None

    def get_initial(self) -> dict[str, Any]:
        # A form posted twice (a reload, a double click) stores one message.
        initial = {"client_msg_id": uuid.uuid4().hex}
        # A suggested first message (`?text=`, from a "Message" button that gives one).
        text = self.request.GET.get("text", "").strip()[:PREFILL_MAX_LENGTH]
        if text:
            initial["content"] = text
        return initial

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        conversation_id = self.kwargs["conversation_id"]
        participant = selectors.get_participant(user.pk, conversation_id)
        before = self.get_before()
        rows = list(
            selectors.list_messages(
                user_id=user.pk, conversation_id=conversation_id, before=before
            )[: selectors.MESSAGE_PAGE_SIZE + 1]
        )
        has_older = len(rows) > selectors.MESSAGE_PAGE_SIZE
        chat_messages = rows[: selectors.MESSAGE_PAGE_SIZE][::-1]
        conversation = selectors.get_conversation(user.pk, conversation_id)
        participants = conversation["participants"]
        others = [p for p in participants if p.pk != user.pk]
        names = {p.pk: display_name(p) for p in participants}
        for message in chat_messages:
            message.is_own = message.sender_id == user.pk
            message.sender_name = names.get(message.sender_id) or display_name(message.sender)
        seen_id, seen_by = self.receipt(chat_messages, conversation["read_up_to"], user, names)
        return super().get_context_data(
            conversation=conversation,
            title=conversation["title"] or ", ".join(display_name(p) for p in others),
            other=others[0] if conversation["kind"] == "direct" and others else None,
            chat_messages=chat_messages,
            has_older=has_older,
            oldest_id=chat_messages[0].pk if chat_messages else None,
            is_latest_page=before is None,
            seen_message_id=seen_id,
            seen_by=seen_by,
            chat_state={
                "conversation_id": conversation_id,
                "user_id": user.pk,
                "kind": conversation["kind"],
                "names": {str(i): name for i, name in names.items()},
                "read_up_to": {str(i): n for i, n in conversation["read_up_to"].items()},
                "last_read_message_id": participant.last_read_message_id,
            },
            **kwargs,
        )

    @staticmethod
    def receipt(
        chat_messages: list[Message], read_up_to: dict[int, int], user: User, names: dict[int, str]
    ) -> tuple[int | None, list[str]]:
        """The newest own message someone else has read, and who read it."""
        for message in reversed(chat_messages):
            if message.sender_id != user.pk or message.is_deleted:
                continue
            readers = [names[i] for i, last in read_up_to.items() if last >= message.pk]
            if readers:
                return message.pk, readers
        return None, []

    def perform(self, form: MessageForm) -> HttpResponse:
        try:
            message, _created = services.send_direct_message(
                actor=self.request.user,
                conversation_id=self.kwargs["conversation_id"],
                content=form.cleaned_data["content"],
                client_msg_id=form.cleaned_data["client_msg_id"] or None,
            )
        except (BlockedError, YouBlockedError, RecipientInactiveError) as error:
            form.add_app_error(error)
            return self.form_invalid(form)
        url = reverse("messaging:conversation", args=[message.conversation_id])
        return redirect(f"{url}#message-{message.pk}")


class ParticipationUpdateView(ActionView):
    """Archive or unarchive, mute or unmute a conversation, from its page."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        changes = {
            field: request.POST[field] == "true"
            for field in ("is_archived", "is_muted")
            if request.POST.get(field) in {"true", "false"}
        }
        if not changes:
            return redirect("messaging:conversation", kwargs["conversation_id"])
        participant = services.update_participation(
            actor=request.user, conversation_id=kwargs["conversation_id"], **changes
        )
        if "is_archived" in changes:
            if participant.is_archived:
                messages.success(request, _("The conversation is archived."))
                return redirect("messaging:inbox")
            messages.success(request, _("The conversation is back in your inbox."))
        elif participant.is_muted:
            messages.success(request, _("The conversation is muted."))
        else:
            messages.success(request, _("The conversation is no longer muted."))
        return redirect("messaging:conversation", kwargs["conversation_id"])


class MessageDeleteView(ActionView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        message = services.delete_message(actor=request.user, message_id=kwargs["message_id"])
        messages.success(request, _("The message is deleted."))
        return redirect("messaging:conversation", message.conversation_id)


class StartConversationView(ActionView):
    """The "Message" button of a person: their 1:1 conversation, opened or created. A button
    may post a suggested first message as `text`: the send form opens with it, unsent."""

    page_url = "messaging:inbox"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        conversation = services.start_direct_conversation(
            actor=request.user, other_id=kwargs["user_id"]
        )
        url = reverse("messaging:conversation", args=[conversation.pk])
        text = request.POST.get("text", "").strip()[:PREFILL_MAX_LENGTH]
        return redirect(f"{url}?{urlencode({'text': text})}" if text else url)


# Notifications


class NotificationsView(MessagingPageMixin, TemplateView):
    template_name = "messaging/notifications.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        notifications = selectors.list_notifications(self.request.user.pk).filter(
            is_shown_in_app=True
        )
        page = Paginator(notifications, NOTIFICATIONS_PAGE_SIZE).get_page(
            self.request.GET.get("page")
        )
        host = self.request.get_host()
        for notification in page.object_list:
            # Links are made by the services; a page still never renders one that leaves the site.
            notification.safe_link = (
                notification.link
                if url_has_allowed_host_and_scheme(notification.link, allowed_hosts={host})
                else ""
            )
        return super().get_context_data(page=page, notifications=page.object_list, **kwargs)


class NotificationsReadView(ActionView):
    page_url = "messaging:notifications"

    def perform(self) -> str:
        count = services.mark_notifications_read(actor=self.request.user)
        if not count:
            return _("You have no unread notifications.")
        return ngettext(
            "%(count)d notification is marked read.",
            "%(count)d notifications are marked read.",
            count,
        ) % {"count": count}


class PreferencesView(MessagingPageMixin, TemplateView):
    """A form per notification type; each posts alone to this page."""

    template_name = "messaging/preferences.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        posted: PreferenceForm | None = kwargs.pop("posted", None)
        rows = []
        for preference in selectors.get_preferences(self.request.user.pk):
            if posted is not None and posted.data.get("type") == preference["type"]:
                form = posted
            else:
                form = PreferenceForm.for_type(preference["type"], initial=preference)
            rows.append({**preference, "form": form})
        return super().get_context_data(preferences=rows, **kwargs)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        type = request.POST.get("type", "")
        if type not in NOTIFICATION_TYPES:
            messages.error(request, _("There is no notification of this type."))
            return redirect("messaging:preferences")
        form = PreferenceForm.for_type(type, data=request.POST)
        if form.is_valid():
            try:
                services.update_notification_preference(
                    actor=request.user,
                    type=form.cleaned_data["type"],
                    in_app=form.cleaned_data["in_app"],
                    email=form.cleaned_data["email"],
                )
            except AppError as error:
                form.add_app_error(error)
            else:
                label = NOTIFICATION_TYPES[form.cleaned_data["type"]].label
                messages.success(request, _("Saved: %(type)s.") % {"type": label})
                return redirect("messaging:preferences")
        response = self.render_to_response(self.get_context_data(posted=form))
        response.status_code = HTTPStatus.UNPROCESSABLE_ENTITY
        return response


@method_decorator(csrf_exempt, name="dispatch")
class UnsubscribeView(View):
    """The link of every notification email: GET asks to confirm, POST turns that type's email
    off. No sign-in and no CSRF token: the signed token is the credential, and mail clients
    send RFC 8058's one-click POST (body `List-Unsubscribe=One-Click`) without a session."""

    http_method_names = ["get", "post"]
    template_name = "messaging/unsubscribe.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            person, type = emails.read_unsubscribe_token(kwargs["token"])
        except InvalidUnsubscribeTokenError as error:
            return TemplateResponse(
                request,
                self.template_name,
                {"invalid": True, "message": error.message},
                status=HTTPStatus.BAD_REQUEST,
            )
        self.person, self.type = person, type
        return super().dispatch(request, *args, **kwargs)

    def context(self, **extra: Any) -> dict[str, Any]:
        return {
            "type_label": emails.unsubscribe_label(self.type),
            "email": self.person.email,
            **extra,
        }

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        return TemplateResponse(request, self.template_name, self.context())

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        services.unsubscribe_from_email(token=token)
        return TemplateResponse(request, self.template_name, self.context(done=True))
