from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path, re_path

from p2p_sandbox import health, views
from p2p_sandbox.api import api

urlpatterns = [
    path("", views.home, name="home"),
    path("health", health.health, name="health"),
    path("health/ready", health.ready, name="health-ready"),
    path("api/v1/", api.urls),
    re_path(r"^api/(?P<path>.*)$", views.api_not_found),
    path("accounts/", include("accounts.urls")),
    path("", include("messaging.urls")),
    path("forums/", include("forums.urls")),
    path("use-cases/", include("usecases.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler500 = "p2p_sandbox.views.server_error"
