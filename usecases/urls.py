from django.urls import path

from usecases import views

app_name = "usecases"

urlpatterns = [
    path("", views.LibraryView.as_view(), name="library"),
    path("mine/", views.MyUseCasesView.as_view(), name="mine"),
    path("bookmarks/", views.BookmarksView.as_view(), name="bookmarks"),
    path("review/", views.ReviewQueueView.as_view(), name="review-queue"),
    path("review/<int:pk>/publish/", views.PublishView.as_view(), name="publish"),
    path("review/<int:pk>/reject/", views.RejectView.as_view(), name="reject"),
    path("media/<int:media_id>/<str:variant>/", views.MediaView.as_view(), name="media"),
    path("<int:pk>/like/", views.LikeView.as_view(), name="like"),
    path("<int:pk>/bookmark/", views.BookmarkView.as_view(), name="bookmark"),
    path("<int:pk>/archive/", views.ArchiveView.as_view(), name="archive"),
    path("<int:pk>/delete/", views.UseCaseDeleteView.as_view(), name="delete"),
    # Submission
    path("new/", views.UseCaseCreateView.as_view(), name="create"),
    path("preview/", views.AnswerPreviewView.as_view(), name="preview"),
    path("<int:pk>/edit/<int:step>/", views.UseCaseEditView.as_view(), name="edit"),
    path("<int:pk>/submit/", views.UseCaseSubmitView.as_view(), name="submit"),
    path(
        "<int:pk>/media/<int:media_id>/remove/",
        views.MediaRemoveView.as_view(),
        name="remove-media",
    ),
    # The detail pattern stays last: "<org_slug>/<slug>/" would match "<pk>/<action>/" paths.
    path("<slug:org_slug>/<slug:slug>/", views.UseCaseDetailView.as_view(), name="detail"),
]
