"""Forms of the account pages. They check the input; the views hand it to one service each."""

import re
from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.functional import Promise, lazy
from django.utils.translation import gettext_lazy as _

from accounts import selectors, services
from accounts.models import Organization, User, person_name_validator
from p2p_sandbox.errors import AppError

IMAGE_TYPES = "image/jpeg,image/png,image/webp"
EXPERTISE_LIMIT = 10
TAG_MAX_LENGTH = 40
Label = str | Promise


def password_help_text() -> str:
    return " ".join(password_validation.password_validators_help_texts())


class PageForm(forms.Form):
    """A form of the account pages (rendered by templates/accounts/includes/form.html), which
    takes a service's errors."""

    error_css_class = "field--invalid"
    required_css_class = "field--required"
    # AppError codes that belong to one field; any other refusal is shown for the whole form.
    error_fields: dict[str, str] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def add_app_error(self, error: AppError) -> None:
        self.add_error(self.error_fields.get(error.code), error.message)

    def add_validation_error(self, error: ValidationError) -> None:
        """A model's own validation, raised by a service's full_clean()."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, errors in error.error_dict.items():
            self.add_error(field if field in self.fields else None, errors)


def email_field(label: Label, **attrs: Any) -> forms.EmailField:
    return forms.EmailField(
        label=label,
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", **attrs}),
    )


def name_field(label: Label, autocomplete: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=50,
        required=False,
        validators=[person_name_validator],
        widget=forms.TextInput(attrs={"autocomplete": autocomplete}),
    )


def new_password_field(label: Label) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=128,
        strip=False,
        help_text=lazy(password_help_text, str)(),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


def current_password_field(label: Label) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=128,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


def image_field(label: Label) -> forms.FileField:
    # The service checks the content itself; `accept` only narrows the file picker.
    return forms.FileField(
        label=label,
        help_text=_("A JPEG, PNG or WebP image of at most 5 MB."),
        widget=forms.FileInput(attrs={"accept": IMAGE_TYPES}),
    )


# Signing up, verifying, signing in


class SignupForm(PageForm):
    first_name = name_field(_("First name"), "given-name")
    last_name = name_field(_("Last name"), "family-name")
    organization_name = forms.CharField(
        label=_("Organization name"),
        min_length=2,
        max_length=200,
        help_text=_("The factory or company you work for. You become its first admin."),
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    email = email_field(_("Work email address"))
    password = new_password_field(_("Password"))

    error_fields = {
        "personal_email_domain": "email",
        "email_taken": "email",
        "organization_exists": "email",
        "invalid_password": "password",
    }


class VerifyEmailForm(PageForm):
    code = forms.CharField(
        label=_("6-digit code"),
        max_length=12,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "class": "input--code",
                "autofocus": True,
            }
        ),
    )

    error_fields = {
        "invalid_code": "code",
        "code_expired": "code",
        "code_attempts_exceeded": "code",
    }

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        if len(code) != 6 or not code.isascii() or not code.isdigit():
            raise ValidationError(_("Enter the 6 digits of the code."), code="invalid")
        return code


class LoginForm(PageForm):
    email = email_field(_("Email address"), autofocus=True)
    password = current_password_field(_("Password"))
    next = forms.CharField(required=False, widget=forms.HiddenInput)


class PasswordResetRequestForm(PageForm):
    email = email_field(_("Email address"), autofocus=True)


class SetPasswordForm(PageForm):
    new_password = new_password_field(_("New password"))
    new_password_repeat = forms.CharField(
        label=_("Repeat the new password"),
        max_length=128,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    error_fields = {"invalid_password": "new_password"}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        new, repeated = cleaned.get("new_password"), cleaned.get("new_password_repeat")
        if new and repeated and new != repeated:
            self.add_error("new_password_repeat", _("The two passwords are not the same."))
        return cleaned


class PasswordChangeForm(SetPasswordForm):
    current_password = current_password_field(_("Current password"))

    field_order = ["current_password", "new_password", "new_password_repeat"]
    error_fields = {"invalid_password": "new_password", "wrong_password": "current_password"}


# Settings


class ProfileForm(PageForm):
    first_name = name_field(_("First name"), "given-name")
    last_name = name_field(_("Last name"), "family-name")
    job_title = forms.CharField(
        label=_("Job title"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "organization-title"}),
    )
    expertise_tags = forms.CharField(
        label=_("Expertise"),
        max_length=EXPERTISE_LIMIT * (TAG_MAX_LENGTH + 2),
        required=False,
        help_text=_("Up to 10 topics, separated by commas: predictive maintenance, PLC, HACCP"),
    )
    language = forms.ChoiceField(label=_("Language"), choices=User.Language.choices)

    @classmethod
    def initial_for(cls, user: User) -> dict[str, Any]:
        return {
            "first_name": user.first_name,
            "last_name": user.last_name,
            "job_title": user.job_title,
            "expertise_tags": ", ".join(user.expertise_tags),
            "language": user.language,
        }

    def clean_expertise_tags(self) -> list[str]:
        tags = self.cleaned_data["expertise_tags"].split(",")
        if any(len(tag.strip()) > TAG_MAX_LENGTH for tag in tags):
            raise ValidationError(
                _("Keep each topic under %(limit)d characters.") % {"limit": TAG_MAX_LENGTH}
            )
        return services.clean_tags(tags, limit=EXPERTISE_LIMIT)


class AvatarForm(PageForm):
    avatar = image_field(_("New picture"))

    error_fields = {"invalid_image": "avatar", "file_too_large": "avatar"}


class ApiTokenForm(PageForm):
    name = forms.CharField(
        label=_("Token name"),
        max_length=100,
        help_text=_("What the token is for, such as “ERP export script”."),
    )


# Organization


class OrganizationForm(PageForm):
    name = forms.CharField(label=_("Name"), min_length=2, max_length=200)
    industry_sector = forms.ChoiceField(
        label=_("Industry sector"), choices=Organization.Sector.choices
    )
    size = forms.ChoiceField(label=_("Size"), choices=Organization.Size.choices)
    city = forms.CharField(label=_("City"), max_length=100, required=False)
    country = forms.CharField(
        label=_("Country"),
        min_length=2,
        max_length=2,
        help_text=_("Two-letter ISO code, such as SA."),
    )
    website = forms.URLField(
        label=_("Website"),
        max_length=200,
        required=False,
        widget=forms.URLInput(attrs={"autocomplete": "url"}),
    )

    @classmethod
    def initial_for(cls, organization: Organization) -> dict[str, Any]:
        return {name: getattr(organization, name) for name in cls.base_fields}

    def clean_country(self) -> str:
        country = self.cleaned_data["country"].upper()
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise ValidationError(_("Enter two letters, such as SA."), code="invalid")
        return country


class LogoForm(PageForm):
    logo = image_field(_("New logo"))

    error_fields = {"invalid_image": "logo", "file_too_large": "logo"}


class InvitationForm(PageForm):
    email = email_field(_("Work email address"), autocomplete="off")
    role = forms.ChoiceField(
        label=_("Role"), choices=User.Role.choices, initial=User.Role.MEMBER, required=False
    )

    error_fields = {
        "email_domain_mismatch": "email",
        "already_member": "email",
        "invitation_exists": "email",
    }

    def clean_role(self) -> str:
        return self.cleaned_data["role"] or User.Role.MEMBER


class MemberForm(PageForm):
    """One change to a member: a new role, or deactivation/reactivation."""

    role = forms.ChoiceField(choices=User.Role.choices, required=False)
    is_active = forms.TypedChoiceField(
        choices=[("true", "true"), ("false", "false")],
        coerce=lambda value: value == "true",
        empty_value=None,
        required=False,
    )

    def changes(self) -> dict[str, Any]:
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if value is not None and value != ""
        }


class InvitationAcceptForm(PageForm):
    first_name = name_field(_("First name"), "given-name")
    last_name = name_field(_("Last name"), "family-name")
    password = new_password_field(_("Password"))

    error_fields = {"invalid_password": "password"}


# People directory


class DirectoryFilterForm(PageForm):
    search = forms.CharField(
        label=_("Name or keyword"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    organization = forms.ModelChoiceField(
        label=_("Organization"),
        queryset=selectors.list_organizations(),
        to_field_name="slug",
        required=False,
        empty_label=_("All organizations"),
    )
    expertise = forms.CharField(label=_("Expertise"), max_length=TAG_MAX_LENGTH, required=False)
    city = forms.CharField(label=_("City"), max_length=100, required=False)

    def filters(self) -> dict[str, str]:
        """The valid filters, as `selectors.list_directory` takes them."""
        self.is_valid()
        cleaned = dict(self.cleaned_data)
        organization = cleaned.pop("organization", None)
        filters = {name: value for name, value in cleaned.items() if value}
        if organization is not None:
            filters["organization"] = organization.slug
        return filters
