"""The server-rendered account pages: the same flows as accounts/api.py, one service call each.

Who may open a page is said by AccountPageMixin's class attributes. A page whose form posts
elsewhere (settings, organization) is re-rendered by the posting view when the input is refused.
"""

import math
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.generic import FormView, TemplateView

from accounts import selectors, services
from accounts.devices import read_device_cookie, remember_device
from accounts.exceptions import (
    AccountLockedError,
    AlreadyVerifiedError,
    InvalidCredentialsError,
    InvalidTokenError,
    NotOrganizationAdminError,
)
from accounts.forms import (
    ApiTokenForm,
    AvatarForm,
    DirectoryFilterForm,
    InvitationAcceptForm,
    InvitationForm,
    LoginForm,
    LogoForm,
    MemberForm,
    OrganizationForm,
    PageForm,
    PasswordChangeForm,
    PasswordResetRequestForm,
    ProfileForm,
    SetPasswordForm,
    SignupForm,
    VerifyEmailForm,
)
from accounts.models import Organization, User
from p2p_sandbox.errors import AppError, RateLimitedError

DIRECTORY_PAGE_SIZE = 20
DIRECTORY_MAX_PAGE_SIZE = 100


def forbidden(request: HttpRequest, message: str) -> TemplateResponse:
    return TemplateResponse(
        request, "accounts/forbidden.html", {"message": message}, status=HTTPStatus.FORBIDDEN
    )


def invalid_link(request: HttpRequest, error: AppError) -> TemplateResponse:
    return TemplateResponse(
        request, "accounts/link_invalid.html", {"message": error.message}, status=error.status
    )


def error_text(error: AppError) -> str:
    if isinstance(error, RateLimitedError) and error.retry_after:
        wait = ngettext(
            "Try again in %(count)d second.", "Try again in %(count)d seconds.", error.retry_after
        ) % {"count": error.retry_after}
        return f"{error.message} {wait}"
    return error.message


def safe_next_url(request: HttpRequest, url: str | None) -> str | None:
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return None


def remember_language(response: HttpResponseBase, language: str) -> None:
    """What /i18n/setlang/ does: LocaleMiddleware serves the next pages in this language."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


def is_organization_admin(user: User) -> bool:
    return user.organization_id is not None and user.is_organization_admin


class AccountPageMixin:
    """Who may open the page, checked before anything else:

    - anonymous callers go to the sign-in page when `sign_in_required`;
    - signed-in users who have not verified their address go to the verification page, unless
      the view is part of verification (`allow_unverified`);
    - signed-in users go home from pages for the signed-out (`anonymous_only`);
    - members who are not their organization's admin get 403 when `admin_required`.

    A service's refusal that the view does not turn into a form error ends here: 404 and 403
    as such, anything else as an error message on `page_url`, the page the view's form is on.
    """

    request: HttpRequest
    sign_in_required = True
    allow_unverified = False
    anonymous_only = False
    admin_required = False
    page_url: str = "home"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            if self.sign_in_required:
                return redirect_to_login(request.get_full_path())
        elif not user.is_email_verified:
            if not self.allow_unverified:
                return redirect("accounts:verify-email")
        elif self.anonymous_only:
            return redirect(self.get_signed_in_url())
        elif self.admin_required and not is_organization_admin(user):
            return forbidden(request, NotOrganizationAdminError.message)
        try:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        except AppError as error:
            return self.refused(error)

    def get_signed_in_url(self) -> str:
        return reverse("home")

    def refused(self, error: AppError) -> HttpResponse:
        if error.status == HTTPStatus.NOT_FOUND:
            raise Http404(error.message)
        if error.status == HTTPStatus.FORBIDDEN:
            return forbidden(self.request, error.message)
        messages.error(self.request, error_text(error))
        return redirect(self.page_url)


class ServiceFormView(AccountPageMixin, FormView):
    """A form whose valid input goes to one service call, in `perform`. A refusal about the
    input (any AppError but 403 and 404, or a model's ValidationError) becomes a form error."""

    form_class: type[PageForm]
    # Refusals about the page rather than the input (an expired link): they go to refused().
    page_errors: tuple[type[AppError], ...] = ()

    def perform(self, form: PageForm) -> HttpResponse:
        raise NotImplementedError

    def form_valid(self, form: PageForm) -> HttpResponse:
        try:
            return self.perform(form)
        except AppError as error:
            if error.status in {HTTPStatus.NOT_FOUND, HTTPStatus.FORBIDDEN} or isinstance(
                error, self.page_errors
            ):
                raise
            form.add_app_error(error)
        except ValidationError as error:
            form.add_validation_error(error)
        return self.form_invalid(form)


class ActionView(AccountPageMixin, View):
    """A button: POST only, one service call, then back to the page with a message."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        messages.success(request, self.perform())
        return redirect(self.page_url)

    def perform(self) -> str:
        """Call the service; return the confirmation to show."""
        raise NotImplementedError


class PostOnlyFormMixin:
    """A form that lives on another page: a GET goes to that page."""

    page_url: str

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return redirect(self.page_url)


# Sign-up and email verification


class SignupView(ServiceFormView):
    template_name = "accounts/signup.html"
    form_class = SignupForm
    sign_in_required = False
    anonymous_only = True

    def perform(self, form: SignupForm) -> HttpResponse:
        user = services.sign_up(**form.cleaned_data)
        login(self.request, user)
        messages.success(
            self.request,
            _("Welcome! We sent a 6-digit code to %(email)s.") % {"email": user.email},
        )
        return redirect("accounts:verify-email")


class VerificationMixin(AccountPageMixin):
    """For signed-in users who have not verified their address; the others go home."""

    allow_unverified = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated and request.user.is_email_verified:
            return redirect("home")
        return super().dispatch(request, *args, **kwargs)


class VerifyEmailView(VerificationMixin, ServiceFormView):
    template_name = "accounts/verify_email.html"
    form_class = VerifyEmailForm

    def perform(self, form: VerifyEmailForm) -> HttpResponse:
        try:
            services.verify_email(email=self.request.user.email, code=form.cleaned_data["code"])
        except AlreadyVerifiedError:
            return redirect("home")
        messages.success(
            self.request, _("Your email address is confirmed. Welcome to P2P Sandbox!")
        )
        return redirect("home")


class ResendCodeView(VerificationMixin, ActionView):
    page_url = "accounts:verify-email"

    def perform(self) -> str:
        email = self.request.user.email
        services.resend_verification_code(email=email)
        return _("A new code is on its way to %(email)s.") % {"email": email}


# Signing in and out


class LoginView(ServiceFormView):
    template_name = "accounts/login.html"
    form_class = LoginForm
    sign_in_required = False
    anonymous_only = True

    def get_initial(self) -> dict[str, Any]:
        return {"next": safe_next_url(self.request, self.request.GET.get("next")) or ""}

    def get_signed_in_url(self) -> str:
        return safe_next_url(self.request, self.request.GET.get("next")) or reverse("home")

    def perform(self, form: LoginForm) -> HttpResponse:
        device = read_device_cookie(self.request)
        try:
            user = services.authenticate_credentials(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                device=device,
            )
        except AccountLockedError as error:
            form.add_error(None, self.lockout_message(error))
            response = self.form_invalid(form)
            response.status_code = HTTPStatus.TOO_MANY_REQUESTS
            response["Retry-After"] = str(error.retry_after)
            return response
        except InvalidCredentialsError as error:
            form.add_error(None, error.message)
            return self.form_invalid(form)
        login(self.request, user)
        if not user.is_email_verified:
            response = redirect("accounts:verify-email")
        else:
            response = redirect(
                safe_next_url(self.request, form.cleaned_data["next"]) or reverse("home")
            )
        remember_language(response, user.language)
        remember_device(response, user_id=user.pk, device=device)
        return response

    @staticmethod
    def lockout_message(error: AccountLockedError) -> str:
        minutes = math.ceil((error.retry_after or 60) / 60)
        wait = ngettext(
            "You can try again in %(count)d minute.",
            "You can try again in %(count)d minutes.",
            minutes,
        ) % {"count": minutes}
        return f"{error.message} {wait}"


class LogoutView(AccountPageMixin, View):
    """POST only, like the API: ends every session of the user, then this one."""

    http_method_names = ["post"]
    sign_in_required = False
    allow_unverified = True

    def post(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            services.sign_out_everywhere(actor=request.user)
            logout(request)
            messages.success(request, _("You are signed out."))
        return redirect("home")


# Passwords


class PasswordResetView(ServiceFormView):
    template_name = "accounts/password_reset.html"
    form_class = PasswordResetRequestForm
    sign_in_required = False

    def perform(self, form: PasswordResetRequestForm) -> HttpResponse:
        services.request_password_reset(email=form.cleaned_data["email"])
        return redirect("accounts:password-reset-sent")


class PasswordResetSentView(AccountPageMixin, TemplateView):
    template_name = "accounts/password_reset_sent.html"
    sign_in_required = False


class PasswordResetConfirmView(ServiceFormView):
    template_name = "accounts/password_reset_confirm.html"
    form_class = SetPasswordForm
    sign_in_required = False
    page_errors = (InvalidTokenError,)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        services.user_from_reset_token(self.kwargs["uidb64"], self.kwargs["token"])
        return super().get(request, *args, **kwargs)

    def refused(self, error: AppError) -> HttpResponse:
        if isinstance(error, InvalidTokenError):
            return invalid_link(self.request, error)
        return super().refused(error)

    def perform(self, form: SetPasswordForm) -> HttpResponse:
        services.reset_password(
            uid=self.kwargs["uidb64"],
            token=self.kwargs["token"],
            new_password=form.cleaned_data["new_password"],
        )
        messages.success(self.request, _("Your password is changed. Sign in with it now."))
        return redirect("accounts:login")


# Invitations


class InvitationAcceptView(ServiceFormView):
    template_name = "accounts/invitation_accept.html"
    form_class = InvitationAcceptForm
    sign_in_required = False
    page_errors = (InvalidTokenError,)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        invitation = services.get_invitation_by_token(self.kwargs["token"])
        return super().get_context_data(invitation=invitation, **kwargs)

    def refused(self, error: AppError) -> HttpResponse:
        if isinstance(error, InvalidTokenError):
            return invalid_link(self.request, error)
        return super().refused(error)

    def perform(self, form: InvitationAcceptForm) -> HttpResponse:
        user = services.accept_invitation(token=self.kwargs["token"], **form.cleaned_data)
        login(self.request, user)
        messages.success(
            self.request,
            _("Welcome to P2P Sandbox! You are a member of %(organization)s.")
            % {"organization": user.organization},
        )
        return redirect("home")


# Profiles and the people directory


class ProfileView(AccountPageMixin, TemplateView):
    """The signed-in user's own profile."""

    template_name = "accounts/profile.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(person=self.request.user, show_email=True, **kwargs)


class PersonDetailView(AccountPageMixin, TemplateView):
    template_name = "accounts/person_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        person = selectors.list_directory().filter(pk=self.kwargs["person_id"]).first()
        if person is None:
            raise Http404
        viewer = self.request.user
        return super().get_context_data(
            person=person,
            is_self=person.pk == viewer.pk,
            # Colleagues see each other's address, as the members list does; outsiders do not.
            show_email=person.organization_id == viewer.organization_id,
            **kwargs,
        )


class DirectoryView(AccountPageMixin, TemplateView):
    template_name = "accounts/directory.html"

    def get_page_size(self) -> int:
        try:
            size = int(self.request.GET.get("page_size", DIRECTORY_PAGE_SIZE))
        except ValueError:
            return DIRECTORY_PAGE_SIZE
        return min(max(size, 1), DIRECTORY_MAX_PAGE_SIZE)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        form = DirectoryFilterForm(self.request.GET)
        filters = form.filters()
        paginator = Paginator(selectors.list_directory(**filters), self.get_page_size())
        page = paginator.get_page(self.request.GET.get("page"))
        return super().get_context_data(
            form=form, page=page, people=page.object_list, is_filtered=bool(filters), **kwargs
        )


# Settings: profile, picture, password, API tokens


class SettingsPageMixin:
    """The settings page, with a fresh form for every section but the one being posted."""

    request: HttpRequest
    template_name = "accounts/settings.html"
    page_url = "accounts:settings"
    form_context_name = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)  # type: ignore[misc]
        if self.form_context_name:
            context[self.form_context_name] = context["form"]
        user = self.request.user
        context.setdefault("profile_form", ProfileForm(initial=ProfileForm.initial_for(user)))
        context.setdefault("avatar_form", AvatarForm())
        context.setdefault("password_form", PasswordChangeForm())
        context.setdefault("api_token_form", ApiTokenForm())
        context["api_tokens"] = selectors.list_api_tokens(user)
        return context


class SettingsView(SettingsPageMixin, AccountPageMixin, TemplateView):
    pass


class ProfileUpdateView(SettingsPageMixin, PostOnlyFormMixin, ServiceFormView):
    form_class = ProfileForm
    form_context_name = "profile_form"

    def perform(self, form: ProfileForm) -> HttpResponse:
        user = services.update_profile(actor=self.request.user, fields=form.cleaned_data)
        with translation.override(user.language):
            messages.success(self.request, _("Your profile is saved."))
        response = redirect("accounts:settings")
        remember_language(response, user.language)
        return response


class AvatarUploadView(SettingsPageMixin, PostOnlyFormMixin, ServiceFormView):
    form_class = AvatarForm
    form_context_name = "avatar_form"

    def perform(self, form: AvatarForm) -> HttpResponse:
        services.upload_avatar(actor=self.request.user, upload=form.cleaned_data["avatar"])
        messages.success(self.request, _("Your new picture is uploaded. It appears in a moment."))
        return redirect("accounts:settings")


class PasswordChangeView(SettingsPageMixin, PostOnlyFormMixin, ServiceFormView):
    form_class = PasswordChangeForm
    form_context_name = "password_form"

    def perform(self, form: PasswordChangeForm) -> HttpResponse:
        user = services.change_password(
            actor=self.request.user,
            current_password=form.cleaned_data["current_password"],
            new_password=form.cleaned_data["new_password"],
        )
        # Every other session has ended; this one goes on with the new password's hash.
        update_session_auth_hash(self.request, user)
        messages.success(
            self.request, _("Your password is changed. Your other sessions are signed out.")
        )
        return redirect("accounts:settings")


class ApiTokenCreateView(SettingsPageMixin, PostOnlyFormMixin, ServiceFormView):
    """Shows the new token in the response itself, once: it is not stored anywhere."""

    form_class = ApiTokenForm
    form_context_name = "api_token_form"

    def perform(self, form: ApiTokenForm) -> HttpResponse:
        token, raw = services.create_api_token(
            actor=self.request.user, name=form.cleaned_data["name"]
        )
        response = TemplateResponse(
            self.request, "accounts/api_token_create.html", {"token": token, "raw_token": raw}
        )
        add_never_cache_headers(response)
        return response


class ApiTokenRevokeView(ActionView):
    page_url = "accounts:settings"

    def perform(self) -> str:
        services.revoke_api_token(actor=self.request.user, token_id=self.kwargs["token_id"])
        return _("The token is revoked. Scripts using it can no longer sign in.")


# Organization


class OrganizationPageMixin:
    """The organization page: profile and members for everyone in it; invitations and the
    member controls for its admins."""

    request: HttpRequest
    template_name = "accounts/organization.html"
    page_url = "accounts:organization"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)  # type: ignore[misc]
        user = self.request.user
        organization = user.organization
        if organization is None:
            raise Http404
        is_admin = is_organization_admin(user)
        context.update(
            organization=organization,
            is_admin=is_admin,
            members=selectors.list_members(organization, include_inactive=is_admin),
            roles=User.Role.choices,
        )
        if is_admin:
            context["invitations"] = selectors.list_open_invitations(organization)
            context.setdefault("invitation_form", context.get("form") or InvitationForm())
        return context


class OrganizationView(OrganizationPageMixin, AccountPageMixin, TemplateView):
    pass


class InvitationCreateView(OrganizationPageMixin, PostOnlyFormMixin, ServiceFormView):
    form_class = InvitationForm
    admin_required = True

    def perform(self, form: InvitationForm) -> HttpResponse:
        invitation = services.invite_member(actor=self.request.user, **form.cleaned_data)
        messages.success(
            self.request,
            _("An invitation is on its way to %(email)s.") % {"email": invitation.email},
        )
        return redirect("accounts:organization")


class InvitationResendView(ActionView):
    admin_required = True
    page_url = "accounts:organization"

    def perform(self) -> str:
        invitation = services.resend_invitation(
            actor=self.request.user, invitation_id=self.kwargs["invitation_id"]
        )
        return _("A new invitation is on its way to %(email)s.") % {"email": invitation.email}


class InvitationCancelView(ActionView):
    admin_required = True
    page_url = "accounts:organization"

    def perform(self) -> str:
        services.cancel_invitation(
            actor=self.request.user, invitation_id=self.kwargs["invitation_id"]
        )
        return _("The invitation is cancelled; its link no longer works.")


class MemberUpdateView(ActionView):
    """A new role for a member, or their deactivation or reactivation."""

    admin_required = True
    page_url = "accounts:organization"

    def perform(self) -> str:
        form = MemberForm(self.request.POST)
        changes = form.changes() if form.is_valid() else {}
        if not changes:
            raise AppError(_("Choose a role, or deactivate or reactivate the member."))
        member = services.change_member(
            actor=self.request.user, member_id=self.kwargs["member_id"], **changes
        )
        name = member.get_full_name() or member.email
        if "is_active" in changes:
            if member.is_active:
                return _("%(name)s is active again.") % {"name": name}
            return _("%(name)s is deactivated and signed out everywhere.") % {"name": name}
        return _("%(name)s is now: %(role)s.") % {"name": name, "role": member.get_role_display()}


class OrganizationUpdateView(ServiceFormView):
    template_name = "accounts/organization_update.html"
    form_class = OrganizationForm
    admin_required = True
    page_url = "accounts:organization-update"

    def get_organization(self) -> Organization:
        return self.request.user.organization

    def get_initial(self) -> dict[str, Any]:
        return OrganizationForm.initial_for(self.get_organization())

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("logo_form", LogoForm())
        return super().get_context_data(organization=self.get_organization(), **kwargs)

    def perform(self, form: OrganizationForm) -> HttpResponse:
        services.update_organization(actor=self.request.user, fields=form.cleaned_data)
        messages.success(self.request, _("The organization profile is saved."))
        return redirect("accounts:organization")


class LogoUploadView(PostOnlyFormMixin, OrganizationUpdateView):
    form_class = LogoForm  # type: ignore[assignment]

    def get_initial(self) -> dict[str, Any]:
        return {}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        organization = self.get_organization()
        kwargs["logo_form"] = kwargs["form"]
        kwargs["form"] = OrganizationForm(initial=OrganizationForm.initial_for(organization))
        return super().get_context_data(**kwargs)

    def perform(self, form: LogoForm) -> HttpResponse:  # type: ignore[override]
        services.upload_logo(actor=self.request.user, upload=form.cleaned_data["logo"])
        messages.success(self.request, _("The new logo is uploaded. It appears in a moment."))
        return redirect("accounts:organization-update")
