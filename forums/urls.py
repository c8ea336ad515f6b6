from django.urls import path

from forums import views

app_name = "forums"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("mine/", views.MyTopicsView.as_view(), name="my-topics"),
    path("new/", views.TopicCreateView.as_view(), name="topic-create"),
    path("preview/", views.PreviewView.as_view(), name="preview"),
    path("c/<slug:slug>/", views.CategoryDetailView.as_view(), name="category-detail"),
    path("t/<int:topic_id>/", views.TopicDetailView.as_view(), name="topic-detail"),
    path("t/<int:topic_id>/edit/", views.TopicUpdateView.as_view(), name="topic-update"),
    path("t/<int:topic_id>/delete/", views.TopicDeleteView.as_view(), name="topic-delete"),
    path("t/<int:topic_id>/like/", views.TopicLikeView.as_view(), name="topic-like"),
    path("t/<int:topic_id>/bookmark/", views.TopicBookmarkView.as_view(), name="topic-bookmark"),
    path(
        "t/<int:topic_id>/subscription/",
        views.TopicSubscriptionView.as_view(),
        name="topic-subscription",
    ),
    path("t/<int:topic_id>/best-answer/", views.BestAnswerView.as_view(), name="best-answer"),
    path("t/<int:topic_id>/pin/", views.TopicPinView.as_view(), name="topic-pin"),
    path("t/<int:topic_id>/lock/", views.TopicLockView.as_view(), name="topic-lock"),
    path("t/<int:topic_id>/move/", views.TopicMoveView.as_view(), name="topic-move"),
    path("p/<int:post_id>/", views.PostDetailView.as_view(), name="post-detail"),
    path("p/<int:post_id>/edit/", views.PostUpdateView.as_view(), name="post-update"),
    path("p/<int:post_id>/delete/", views.PostDeleteView.as_view(), name="post-delete"),
    path("p/<int:post_id>/like/", views.PostLikeView.as_view(), name="post-like"),
]
