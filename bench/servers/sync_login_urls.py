"""`/health`, `POST /api/v1/auth/login` and `POST /api/v1/auth/signup` as sync views: the
project's schemas, services and error handlers (so the same bodies, statuses and errors), on a
NinjaAPI of their own whose operations are plain `def`s, served by gunicorn's threads."""

from django.contrib.auth import login as django_login
from django.http import HttpRequest, JsonResponse
from django.urls import path
from ninja import NinjaAPI, Status

from accounts import services
from accounts.models import User
from accounts.schemas import AuthOut, LoginIn, SignupIn, SignupOut
from p2p_sandbox.api import add_error_handlers

api = NinjaAPI(title="bench sync login", urls_namespace="bench-sync-api", docs_url=None)
add_error_handlers(api)


def get_user(user_id: int) -> User:
    return User.objects.select_related("organization").get(pk=user_id)


@api.post("/auth/login", response=AuthOut)
def login(request: HttpRequest, payload: LoginIn) -> dict:
    user = services.authenticate_credentials(email=payload.email, password=payload.password)
    django_login(request, user)
    return {"user": get_user(user.pk)}


@api.post("/auth/signup", response={201: SignupOut})
def signup(request: HttpRequest, payload: SignupIn) -> Status:
    user = get_user(services.sign_up(**payload.model_dump()).pk)
    return Status(201, {"user": user, "organization": user.organization})


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "healthy", "async": True})


urlpatterns = [path("health", health), path("api/v1/", api.urls)]
