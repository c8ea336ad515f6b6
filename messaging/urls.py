from django.urls import path

from messaging import views

app_name = "messaging"

urlpatterns = [
    path("messages/", views.InboxView.as_view(), name="inbox"),
    path("messages/archived/", views.InboxView.as_view(archived=True), name="archived"),
    path("messages/<int:conversation_id>/", views.ConversationView.as_view(), name="conversation"),
    path(
        "messages/<int:conversation_id>/settings/",
        views.ParticipationUpdateView.as_view(),
        name="participation-update",
    ),
    path(
        "messages/message/<int:message_id>/delete/",
        views.MessageDeleteView.as_view(),
        name="message-delete",
    ),
    path("messages/new/<int:user_id>/", views.StartConversationView.as_view(), name="start"),
    path("notifications/", views.NotificationsView.as_view(), name="notifications"),
    path("notifications/read/", views.NotificationsReadView.as_view(), name="notifications-read"),
    path("notifications/preferences/", views.PreferencesView.as_view(), name="preferences"),
    path(
        "notifications/unsubscribe/<str:token>/",
        views.UnsubscribeView.as_view(),
        name="unsubscribe",
    ),
]
