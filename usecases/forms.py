"""Forms of the guided submission of a use case: one per step, the outcome-metric rows and the
upload. Every field is optional (a draft saves whatever is given); the fields that submitting
needs are marked. The rules are the services': their refusals become these forms' errors."""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.forms.boundfield import BoundField
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from accounts.forms import PageForm
from accounts.models import User
from p2p_sandbox.errors import AppError
from usecases import media
from usecases.constants import (
    ANSWER_MAX_LENGTH,
    CITY_CHOICES,
    MAX_TAGS,
    TAG_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    BudgetRange,
    Category,
)
from usecases.exceptions import IncompleteUseCaseError
from usecases.models import Media, OutcomeMetric, UseCase
from usecases.services import REQUIRED_FIELDS

ACCEPTED_UPLOADS = "image/jpeg,image/png,image/webp,video/mp4,video/webm,application/pdf"
BETTER_CHOICES = [("higher", _("Higher")), ("lower", _("Lower"))]

# The step of the form that holds each field, for "what is missing" links.
SITE_FIELDS = (
    "site_name",
    "city",
    "latitude",
    "longitude",
    "visibility",
    "contact_name",
    "contact_title",
)
STORY_FIELDS = (
    "title",
    "category",
    "problem",
    "technology",
    "budget_range",
    "budget_currency",
    "budget_amount",
    "outcomes",
    "challenges",
    "industry_tags",
    "technology_tags",
    "vendor_name",
    "vendor_website",
    "implementation_months",
    "roi_percent",
    "payback_months",
)
STEP_OF_FIELD = {
    **dict.fromkeys(SITE_FIELDS, 1),
    **dict.fromkeys(STORY_FIELDS, 2),
}


class SubmissionBoundField(BoundField):
    """Marks the fields that submitting for review needs, though a draft may leave them empty."""

    def css_classes(self, extra_classes: Any = None) -> str:
        classes = super().css_classes(extra_classes)
        if self.name in REQUIRED_FIELDS:
            classes = f"{classes} field--required".strip()
        return classes


class SubmissionForm(PageForm):
    bound_field_class = SubmissionBoundField

    def add_app_error(self, error: AppError) -> None:
        if isinstance(error, IncompleteUseCaseError):
            # Editing a published use case must leave it complete.
            for name in error.missing_fields:
                self.add_error(
                    name if name in self.fields else None,
                    _("A published use case needs this; it cannot be emptied."),
                )
            return
        super().add_app_error(error)


def text_field(
    label: str | Promise, max_length: int, help_text: str | Promise = ""
) -> forms.CharField:
    return forms.CharField(label=label, max_length=max_length, required=False, help_text=help_text)


def answer_field(label: str | Promise, guidance: str | Promise) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=ANSWER_MAX_LENGTH,
        help_text=guidance,
        widget=forms.Textarea(attrs={"rows": 7, "data-markdown": "", "data-counter": ""}),
    )


def choices_with_blank(blank: str | Promise, choices: Any) -> list[tuple[str, Any]]:
    return [("", blank), *choices]


# Step 1: organization and site


class SiteForm(SubmissionForm):
    site_name = text_field(
        _("Factory or site"),
        200,
        _("The plant, line or site where it runs, e.g. “Jubail Plant 2, press line 3”."),
    )
    city = forms.ChoiceField(
        label=_("City"),
        required=False,
        choices=choices_with_blank(_("Choose a city"), CITY_CHOICES),
        help_text=_("Not in the list? Leave it empty and give the site's coordinates instead."),
    )
    latitude = forms.DecimalField(
        label=_("Latitude"),
        required=False,
        min_value=Decimal(-90),
        max_value=Decimal(90),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "26.42070"}),
    )
    longitude = forms.DecimalField(
        label=_("Longitude"),
        required=False,
        min_value=Decimal(-180),
        max_value=Decimal(180),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "50.08880"}),
    )
    visibility = forms.ChoiceField(
        label=_("Who can read it once it is published"),
        choices=UseCase.Visibility.choices,
        initial=UseCase.Visibility.PUBLIC,
        widget=forms.RadioSelect,
    )
    contact_name = text_field(
        _("Contact person"), 100, _("Who other members can ask about this use case.")
    )
    contact_title = text_field(_("Their job title"), 100)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        latitude, longitude = data.get("latitude"), data.get("longitude")
        if data.get("city") and (latitude is not None or longitude is not None):
            self.add_error("city", _("Choose a city or give coordinates, not both."))
        elif (latitude is None) != (longitude is None):
            missing = "latitude" if latitude is None else "longitude"
            self.add_error(missing, _("Give both latitude and longitude, or neither."))
        return data

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        fields = {name: data[name] for name in ("site_name", "visibility")}
        fields |= {name: data[name] for name in ("contact_name", "contact_title")}
        if data["city"]:
            fields["city"] = data["city"]
        else:
            fields |= {"city": "", "latitude": data["latitude"], "longitude": data["longitude"]}
        return fields

    @staticmethod
    def initial_for(use_case: UseCase) -> dict[str, Any]:
        initial: dict[str, Any] = {name: getattr(use_case, name) for name in SITE_FIELDS}
        if use_case.city:
            # The city brings its own coordinates; sending them back would mean both.
            initial["latitude"] = initial["longitude"] = None
        return initial

    @staticmethod
    def initial_for_new(user: User) -> dict[str, Any]:
        return {
            "contact_name": user.get_full_name(),
            "contact_title": user.job_title,
            "visibility": UseCase.Visibility.PUBLIC,
        }


# Step 2: the use case


class TagsField(forms.CharField):
    """Tags typed separated by commas; answers the list."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", (TAG_MAX_LENGTH + 2) * MAX_TAGS)
        super().__init__(required=False, **kwargs)

    def clean(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().clean(value)
        tags = [" ".join(tag.split()) for tag in text.split(",")]
        tags = [tag for tag in tags if tag]
        if len(tags) > MAX_TAGS:
            raise ValidationError(
                _("At most %(max)d tags; this has %(count)d."),
                params={"max": MAX_TAGS, "count": len(tags)},
            )
        too_long = [tag for tag in tags if len(tag) > TAG_MAX_LENGTH]
        if too_long:
            raise ValidationError(
                _("“%(tag)s” is longer than %(max)d characters."),
                params={"tag": too_long[0], "max": TAG_MAX_LENGTH},
            )
        return tags


class StoryForm(SubmissionForm):
    title = forms.CharField(
        label=_("Title"),
        required=False,
        max_length=TITLE_MAX_LENGTH,
        help_text=_(
            "The result in one line, 10 to 100 characters, e.g. “Vibration sensors cut "
            "spindle downtime by 75%”."
        ),
        widget=forms.TextInput(attrs={"data-counter": "", "autocomplete": "off"}),
    )
    category = forms.ChoiceField(
        label=_("Category"),
        required=False,
        choices=choices_with_blank(_("Choose a category"), Category.choices),
    )
    problem = answer_field(
        _("1. What problem did you have?"),
        _(
            "What went wrong, on which line or machine, and what it cost you. Give numbers "
            "where you have them: hours of downtime a month, scrap rate, energy bill, late "
            "deliveries. Say what you had tried before."
        ),
    )
    technology = answer_field(
        _("2. What technology did you put in place?"),
        _(
            "The equipment and software, how many units, how it connects to what you had "
            "(PLC, SCADA, MES, ERP) and who installed it. Enough detail that another plant "
            "engineer could ask a supplier for the same thing."
        ),
    )
    budget_range = forms.ChoiceField(
        label=_("3. What did it cost?"),
        required=False,
        choices=choices_with_blank(_("Choose a range"), BudgetRange.choices),
        help_text=_(
            "The first deployment in total: equipment, software, integration and training. "
            "The range is enough; the exact amount is optional."
        ),
    )
    budget_currency = forms.CharField(
        label=_("Currency"),
        required=False,
        max_length=3,
        widget=forms.TextInput(attrs={"size": 4, "autocomplete": "off"}),
    )
    budget_amount = forms.DecimalField(
        label=_("Amount (optional)"),
        required=False,
        min_value=Decimal(0),
        max_digits=14,
        decimal_places=2,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    outcomes = answer_field(
        _("4. What changed?"),
        _(
            "The results compared with how things were before, on the same line and over a "
            "period of the same length. Put the figures in the outcome metrics below too, so "
            "readers can compare use cases."
        ),
    )
    challenges = answer_field(
        _("5. What was hard, and what would you do differently?"),
        _(
            "Integration, data quality, operators' trust, supplier support, permits, "
            "downtime during installation. This is often what helps other factories most."
        ),
    )
    industry_tags = TagsField(
        label=_("Industry tags"),
        help_text=_(
            "Your sector and processes, separated by commas (up to 10): "
            "metal fabrication, injection moulding"
        ),
    )
    technology_tags = TagsField(
        label=_("Technology tags"),
        help_text=_(
            "The technologies used, separated by commas (up to 10): iot, machine vision, plc"
        ),
    )
    vendor_name = text_field(
        _("Supplier or integrator"), 200, _("Who you worked with, if you want to say.")
    )
    vendor_website = forms.URLField(
        label=_("Their website"), required=False, max_length=300, assume_scheme="https"
    )
    implementation_months = forms.IntegerField(
        label=_("Implementation time (months)"),
        required=False,
        min_value=0,
        max_value=240,
        help_text=_("From the order to running in production."),
    )
    roi_percent = forms.DecimalField(
        label=_("Return on investment (%)"),
        required=False,
        min_value=Decimal(-100),
        max_value=Decimal(1_000_000),
        decimal_places=2,
        help_text=_("Over the period you measured."),
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    payback_months = forms.IntegerField(
        label=_("Payback (months)"),
        required=False,
        min_value=0,
        max_value=600,
        help_text=_("Months until the savings covered the cost."),
    )

    def service_fields(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in STORY_FIELDS}

    @staticmethod
    def initial_for(use_case: UseCase) -> dict[str, Any]:
        initial: dict[str, Any] = {name: getattr(use_case, name) for name in STORY_FIELDS}
        initial["industry_tags"] = ", ".join(use_case.industry_tags)
        initial["technology_tags"] = ", ".join(use_case.technology_tags)
        return initial


class MetricForm(forms.Form):
    """One outcome-metric row; a row left empty is skipped."""

    metric = forms.CharField(label=_("Metric"), max_length=100, required=False)
    unit = forms.CharField(label=_("Unit"), max_length=30, required=False)
    baseline = forms.DecimalField(
        label=_("Before"),
        required=False,
        max_digits=16,
        decimal_places=4,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    result = forms.DecimalField(
        label=_("After"),
        required=False,
        max_digits=16,
        decimal_places=4,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    period = forms.CharField(label=_("Over"), max_length=50, required=False)
    higher_is_better = forms.TypedChoiceField(
        label=_("Better when"),
        choices=BETTER_CHOICES,
        coerce=lambda value: value == "higher",
        initial="higher",
    )

    error_css_class = "field--invalid"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.is_blank():
            for name in ("metric", "baseline", "result"):
                if data.get(name) in ("", None) and name not in self.errors:
                    self.add_error(name, _("Needed in a filled row."))
        return data

    def is_blank(self) -> bool:
        """Nothing typed in the row (the direction alone does not count)."""
        data = self.cleaned_data
        typed = ("metric", "unit", "baseline", "result", "period")
        return all(data.get(name) in ("", None) and name not in self.errors for name in typed)

    def row(self) -> dict[str, Any]:
        return {
            name: self.cleaned_data[name]
            for name in ("metric", "unit", "baseline", "result", "period", "higher_is_better")
        }

    @staticmethod
    def initial_for(metric: OutcomeMetric) -> dict[str, Any]:
        return {
            "metric": metric.metric,
            "unit": metric.unit,
            "baseline": plain_number(metric.baseline),
            "result": plain_number(metric.result),
            "period": metric.period,
            "higher_is_better": "higher" if metric.higher_is_better else "lower",
        }


def plain_number(value: Decimal) -> str:
    """12.5000 as "12.5", 10.0000 as "10" (never "1E+1")."""
    return format(value.normalize(), "f")


class BaseMetricFormSet(forms.BaseFormSet):
    def rows(self) -> list[tuple[MetricForm, dict[str, Any]]]:
        """The rows to store, in order, each with its form (to put the services' errors back)."""
        return [
            (form, form.row())
            for form in self.forms
            if not self._should_delete_form(form) and form.has_changed() and not form.is_blank()
        ]


MetricFormSet = forms.formset_factory(
    MetricForm,
    formset=BaseMetricFormSet,
    extra=0,
    can_delete=True,
    max_num=OutcomeMetric.MAX_PER_USE_CASE,
    validate_max=True,
    absolute_max=OutcomeMetric.MAX_PER_USE_CASE * 2,
)
METRICS_PREFIX = "metrics"
BLANK_METRIC_ROWS = 3


def metric_formset(
    data: Mapping[str, Any] | None = None, metrics: list[OutcomeMetric] | None = None
) -> BaseMetricFormSet:
    """The rows of the stored metrics plus a few blank ones (for a page without JavaScript)."""
    if data is not None:
        return MetricFormSet(data, prefix=METRICS_PREFIX)
    initial = [MetricForm.initial_for(metric) for metric in metrics or []]
    formset = MetricFormSet(initial=initial, prefix=METRICS_PREFIX)
    formset.extra = min(
        BLANK_METRIC_ROWS if not initial else 1,
        OutcomeMetric.MAX_PER_USE_CASE - len(initial),
    )
    return formset


def add_story_errors(
    form: StoryForm, formset: BaseMetricFormSet, rows: list[MetricForm], error: ValidationError
) -> None:
    """A service's ValidationError on step 2: "metrics.<n>.<field>" keys go to the n-th stored
    row's form, "metrics" to the rows as a whole, the rest to the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for key, errors in error.error_dict.items():
        parts = key.split(".")
        if parts[0] == "metrics" and len(parts) == 3 and parts[1].isdigit():
            index = int(parts[1])
            if index < len(rows):
                field = parts[2] if parts[2] in rows[index].fields else None
                rows[index].add_error(field, errors)
                continue
        if key == "metrics" or parts[0] == "metrics":
            formset.non_form_errors().extend(
                message for item in errors for message in item.messages
            )
            continue
        form.add_error(key if key in form.fields else None, errors)


# Step 3: attachments


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        return [item for item in (data if isinstance(data, list | tuple) else [data]) if item]


class MediaUploadForm(SubmissionForm):
    files = MultipleFileField(
        label=_("Add photos, videos or PDFs"),
        help_text=format_lazy(
            _(
                "JPEG, PNG or WebP photos of the line or the installation, MP4 or WebM videos, "
                "and PDF data sheets or reports. Up to {count} files per use case."
            ),
            count=Media.MAX_PER_USE_CASE,
        ),
        required=False,
        widget=MultipleFileInput(attrs={"accept": ACCEPTED_UPLOADS, "data-upload": ""}),
    )

    error_fields = {
        "no_files": "files",
        "unsupported_media_type": "files",
        "file_too_large": "files",
        "invalid_image": "files",
        "too_many_media": "files",
    }

    def clean_files(self) -> list[UploadedFile]:
        """Every file is checked by its content, so each refused one is named at once."""
        uploads = self.cleaned_data["files"]
        if not uploads:
            raise ValidationError(_("Choose at least one file to upload."), code="no_files")
        errors = []
        for upload in uploads:
            try:
                media.check_upload(upload)
            except AppError as error:
                errors.append(ValidationError(error.message, code=error.code))
        if errors:
            raise ValidationError(errors)
        return uploads
