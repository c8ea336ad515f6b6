"""Every write of the use-case library: drafts, submission, review, reactions and metrics.

Pages and the API both come here. Each function checks its caller first, writes inside one
transaction and raises the errors of `usecases.exceptions` (field errors as Django's
ValidationError, one entry per field), leaving nothing changed when it raises.
"""

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Organization, User
from messaging.services import notify
from p2p_sandbox.markdown import render_markdown, to_plain_text
from usecases.constants import (
    CITIES_BY_KEY,
    DEFAULT_CURRENCY,
    MAX_TAGS,
    TAG_MAX_LENGTH,
    Category,
)
from usecases.exceptions import (
    IncompleteUseCaseError,
    InvalidStatusError,
    NoOrganizationError,
    NotPublishedError,
    NotReviewerError,
    NotUseCaseEditorError,
    ReviewNoteRequiredError,
    UseCaseNotFoundError,
)
from usecases.models import (
    Media,
    OutcomeMetric,
    UseCase,
    UseCaseBookmark,
    UseCaseLike,
    UseCaseRevision,
    UseCaseTag,
    UseCaseView,
    improvement_expression,
)

Status = UseCase.Status

EDITABLE_FIELDS = frozenset(
    {
        "title",
        "category",
        "problem",
        "technology",
        "budget_range",
        "budget_currency",
        "budget_amount",
        "outcomes",
        "challenges",
        "site_name",
        "city",
        "latitude",
        "longitude",
        "industry_tags",
        "technology_tags",
        "contact_name",
        "contact_title",
        "vendor_name",
        "vendor_website",
        "implementation_months",
        "roi_percent",
        "payback_months",
        "visibility",
        "wizard_step",
    }
)
MARKDOWN_FIELDS = ("problem", "technology", "outcomes", "challenges")
TAG_FIELDS = {
    "industry_tags": UseCaseTag.Kind.INDUSTRY,
    "technology_tags": UseCaseTag.Kind.TECHNOLOGY,
}
NULLABLE_FIELDS = frozenset(
    {
        "budget_amount",
        "latitude",
        "longitude",
        "implementation_months",
        "roi_percent",
        "payback_months",
    }
)
# What submitting requires, in the order of the form. "city" is met by a city or by coordinates.
REQUIRED_FIELDS = (
    "title",
    "category",
    "problem",
    "technology",
    "budget_range",
    "outcomes",
    "challenges",
    "site_name",
    "city",
    "contact_name",
    "contact_title",
)
METRIC_FIELDS = frozenset({"metric", "unit", "baseline", "result", "period", "higher_is_better"})
REVIEW_NOTE_MAX_LENGTH = 1000


# Who may do what


def is_editor(user: User | AnonymousUser, use_case: UseCase) -> bool:
    """The author and the admins of the use case's organization."""
    if not user.is_authenticated or not user.is_active:
        return False
    if use_case.author_id == user.pk:
        return True
    return user.is_organization_admin and user.organization_id == use_case.organization_id


def can_view(user: User | AnonymousUser, use_case: UseCase) -> bool:
    """Published use cases: every signed-in member (public) or the organization's members.
    Any other status: the editors and platform staff. The query twin is
    `selectors.visible_use_cases`."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff or is_editor(user, use_case):
        return True
    if use_case.status != Status.PUBLISHED:
        return False
    return (
        use_case.visibility == UseCase.Visibility.PUBLIC
        or user.organization_id == use_case.organization_id
    )


def check_can_view(user: User | AnonymousUser, use_case: UseCase) -> None:
    """Raises UseCaseNotFoundError (404, so a hidden use case does not reveal it exists)."""
    if not can_view(user, use_case):
        raise UseCaseNotFoundError


def check_can_edit(user: User | AnonymousUser, use_case: UseCase) -> None:
    check_can_view(user, use_case)
    if not is_editor(user, use_case):
        raise NotUseCaseEditorError


def check_is_reviewer(user: User | AnonymousUser) -> None:
    if not (user.is_authenticated and user.is_active and user.is_staff):
        raise NotReviewerError


def check_can_write(user: User) -> None:
    if not user.is_active or user.organization_id is None:
        raise NoOrganizationError


def lock_use_case(use_case_id: int) -> UseCase:
    use_case = (
        UseCase.objects.select_for_update(of=("self",))
        .select_related("organization", "author")
        .filter(pk=use_case_id)
        .first()
    )
    if use_case is None:
        raise UseCaseNotFoundError
    return use_case


def get_use_case_row(use_case_id: int) -> UseCase:
    use_case = UseCase.objects.filter(pk=use_case_id).first()
    if use_case is None:
        raise UseCaseNotFoundError
    return use_case


# Cleaning input


def default_currency(organization: Organization) -> str:
    return getattr(organization, "currency", "") or DEFAULT_CURRENCY


def clean_tags(value: object, *, field: str) -> list[str]:
    """Lower-case, trimmed, inner spaces collapsed, duplicates dropped (order kept)."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValidationError({field: "Give a list of tags."})
    cleaned: list[str] = []
    for tag in value:
        if not isinstance(tag, str):
            raise ValidationError({field: "Each tag is text."})
        normalized = " ".join(tag.split()).lower()
        if len(normalized) > TAG_MAX_LENGTH:
            raise ValidationError({field: f"A tag has at most {TAG_MAX_LENGTH} characters."})
        if normalized and normalized not in cleaned:
            cleaned.append(normalized)
    if len(cleaned) > MAX_TAGS:
        raise ValidationError({field: f"At most {MAX_TAGS} tags."})
    return cleaned


COORDINATE_PLACES = Decimal("0.00001")


def clean_coordinate(value: object, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value)).quantize(COORDINATE_PLACES)
    except ArithmeticError as error:
        raise ValidationError({field: "Give a number."}) from error


def clean_location(use_case: UseCase, fields: Mapping[str, Any]) -> None:
    """A city from the list brings its coordinates; free coordinates clear the city."""
    city = fields.get("city")
    has_coordinates = "latitude" in fields or "longitude" in fields
    given_latitude = clean_coordinate(fields.get("latitude"), "latitude")
    given_longitude = clean_coordinate(fields.get("longitude"), "longitude")
    if city:
        known = CITIES_BY_KEY.get(city)
        if known is None:
            raise ValidationError({"city": "Choose a city from the list."})
        latitude = Decimal(str(known.latitude)).quantize(COORDINATE_PLACES)
        longitude = Decimal(str(known.longitude)).quantize(COORDINATE_PLACES)
        if has_coordinates and (given_latitude != latitude or given_longitude != longitude):
            raise ValidationError({"city": "Choose a city or give coordinates, not both."})
        use_case.city, use_case.latitude, use_case.longitude = city, latitude, longitude
        return
    if "city" in fields:
        use_case.city = ""
        if not has_coordinates:
            use_case.latitude = use_case.longitude = None
    if has_coordinates:
        if (given_latitude is None) != (given_longitude is None):
            raise ValidationError({"latitude": "Give both latitude and longitude, or neither."})
        use_case.city = ""
        use_case.latitude, use_case.longitude = given_latitude, given_longitude


def apply_fields(use_case: UseCase, fields: Mapping[str, Any]) -> dict[str, object]:
    """Set `fields` on `use_case` (not saved) and validate them; answers the previous value of
    each field that changed. Raises ValidationError and leaves the row unsaved on bad input."""
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"Not use-case fields: {sorted(unknown)}")
    before = {name: getattr(use_case, name) for name in EDITABLE_FIELDS}
    for name, value in fields.items():
        if name in ("city", "latitude", "longitude") or name in TAG_FIELDS:
            continue
        if name == "wizard_step":
            if value is not None:
                if not isinstance(value, int) or not 1 <= value <= 3:
                    raise ValidationError({"wizard_step": "Choose step 1, 2 or 3."})
                use_case.wizard_step = max(use_case.wizard_step, value)
            continue
        if value is None and name not in NULLABLE_FIELDS:
            value = ""
        if isinstance(value, str):
            value = value.strip()
        setattr(use_case, name, value)
    for name in TAG_FIELDS:
        if name in fields:
            setattr(use_case, name, clean_tags(fields[name], field=name))
    clean_location(use_case, fields)
    if not use_case.budget_currency:
        use_case.budget_currency = default_currency(use_case.organization)
    use_case.budget_currency = use_case.budget_currency.upper()
    if not re.fullmatch(r"[A-Z]{3}", use_case.budget_currency):
        raise ValidationError({"budget_currency": "Use a 3-letter currency code, e.g. SAR."})
    if use_case.vendor_website:
        try:
            URLValidator(schemes=["http", "https"])(use_case.vendor_website)
        except ValidationError as error:
            raise ValidationError({"vendor_website": error.messages}) from error
    use_case.full_clean(
        exclude=[f.name for f in UseCase._meta.fields if f.name not in EDITABLE_FIELDS],
        validate_unique=False,
        validate_constraints=False,
    )
    # Decimals compare by value, so 5 and 5.00 are no change.
    changed = {name: old for name, old in before.items() if old != getattr(use_case, name)}
    for name in MARKDOWN_FIELDS:
        if name in changed:
            text = getattr(use_case, name)
            setattr(use_case, f"{name}_html", render_markdown(text) if text else "")
    return changed


def missing_fields(use_case: UseCase) -> list[str]:
    missing = []
    for name in REQUIRED_FIELDS:
        if name == "city":
            if not use_case.city and use_case.latitude is None:
                missing.append(name)
        elif getattr(use_case, name) in ("", None):
            missing.append(name)
    return missing


def build_search_document(use_case: UseCase, metric_names: Iterable[str] = ()) -> str:
    city = CITIES_BY_KEY.get(use_case.city)
    parts = [
        use_case.title,
        Category(use_case.category).label if use_case.category else "",
        use_case.organization.name,
        use_case.site_name,
        str(city.name) if city else "",
        " ".join(use_case.industry_tags),
        " ".join(use_case.technology_tags),
        use_case.vendor_name,
        *(to_plain_text(getattr(use_case, f"{name}_html")) for name in MARKDOWN_FIELDS),
        *metric_names,
    ]
    return "\n".join(str(part) for part in parts if part)


# Writing


def save_with_slug(use_case: UseCase) -> None:
    """Save, with a slug from the title that is unique in the organization. Once a use case
    was published its slug (its URL) stays."""
    base = slugify(use_case.title, allow_unicode=True)[:100].strip("-") or "use-case"
    if use_case.published_at is not None or (
        use_case.slug and re.fullmatch(rf"{re.escape(base)}(-\d+)?", use_case.slug)
    ):
        use_case.save()
        return
    for _attempt in range(20):
        taken = set(
            UseCase.objects.filter(organization_id=use_case.organization_id, slug__startswith=base)
            .exclude(pk=use_case.pk)
            .values_list("slug", flat=True)
        )
        candidate, number = base, 2
        while candidate in taken:
            candidate, number = f"{base}-{number}", number + 1
        use_case.slug = candidate
        try:
            with transaction.atomic():
                use_case.save()
        except IntegrityError:
            # Another use case of the organization took the slug between the read and the save.
            continue
        return
    raise IntegrityError("Could not find a free slug.")


def write_tags(use_case: UseCase) -> None:
    UseCaseTag.objects.filter(use_case=use_case).delete()
    UseCaseTag.objects.bulk_create(
        UseCaseTag(use_case=use_case, kind=kind, name=name)
        for field, kind in TAG_FIELDS.items()
        for name in getattr(use_case, field)
    )


def metric_names(use_case: UseCase) -> list[str]:
    if use_case.pk is None:
        return []
    return list(OutcomeMetric.objects.filter(use_case=use_case).values_list("metric", flat=True))


def create_use_case(*, actor: User, fields: Mapping[str, Any] | None = None) -> UseCase:
    """A draft of the actor's organization; any subset of the fields (even none)."""
    check_can_write(actor)
    organization = actor.organization
    use_case = UseCase(
        organization=organization,
        author=actor,
        budget_currency=default_currency(organization),  # type: ignore[arg-type]
    )
    apply_fields(use_case, fields or {})
    use_case.search_document = build_search_document(use_case)
    with transaction.atomic():
        save_with_slug(use_case)
        write_tags(use_case)
    return use_case


def json_value(value: object) -> object:
    return str(value) if isinstance(value, Decimal) else value


def record_revision(
    use_case: UseCase, actor: User, previous: Mapping[str, object]
) -> UseCaseRevision:
    return UseCaseRevision.objects.create(
        use_case=use_case,
        editor=actor,
        changed_fields=sorted(previous),
        previous_values={name: json_value(value) for name, value in previous.items()},
    )


def update_use_case(*, actor: User, use_case_id: int, fields: Mapping[str, Any]) -> UseCase:
    """Change any subset of the fields. A published use case stays published, must stay
    complete, and each edit is recorded as a UseCaseRevision."""
    with transaction.atomic():
        use_case = lock_use_case(use_case_id)
        check_can_edit(actor, use_case)
        if use_case.status == Status.ARCHIVED:
            raise InvalidStatusError("An archived use case cannot be edited.")
        changed = apply_fields(use_case, fields)
        if not changed:
            return use_case
        if use_case.status == Status.PUBLISHED:
            missing = missing_fields(use_case)
            if missing:
                raise IncompleteUseCaseError(missing)
            record_revision(use_case, actor, changed)
        use_case.updated_at = timezone.now()
        use_case.search_document = build_search_document(use_case, metric_names(use_case))
        save_with_slug(use_case)
        if changed.keys() & TAG_FIELDS.keys():
            write_tags(use_case)
    return use_case


def submit_use_case(*, actor: User, use_case_id: int) -> UseCase:
    """Send a draft (or a rejected use case, reworked) to the staff's review queue."""
    with transaction.atomic():
        use_case = lock_use_case(use_case_id)
        check_can_edit(actor, use_case)
        if use_case.status not in (Status.DRAFT, Status.REJECTED):
            raise InvalidStatusError("Only a draft or a rejected use case can be submitted.")
        missing = missing_fields(use_case)
        if missing:
            raise IncompleteUseCaseError(missing)
        now = timezone.now()
        use_case.status = Status.SUBMITTED
        use_case.submitted_at = use_case.updated_at = now
        use_case.wizard_step = 3
        use_case.save(update_fields=["status", "submitted_at", "updated_at", "wizard_step"])
    return use_case


def publish_use_case(*, actor: User, use_case_id: int) -> UseCase:
    check_is_reviewer(actor)
    with transaction.atomic():
        use_case = lock_use_case(use_case_id)
        if use_case.status != Status.SUBMITTED:
            raise InvalidStatusError("Only a submitted use case can be published.")
        now = timezone.now()
        use_case.status = Status.PUBLISHED
        use_case.published_at = use_case.published_at or now
        use_case.reviewed_at = use_case.updated_at = now
        use_case.reviewed_by = actor
        use_case.review_note = ""
        use_case.save(
            update_fields=[
                "status",
                "published_at",
                "reviewed_at",
                "updated_at",
                "reviewed_by",
                "review_note",
            ]
        )
        if use_case.author is not None:
            notify(
                recipient=use_case.author,
                type="use_case_published",
                text=f"Your use case “{use_case.title}” was published.",
                actor=actor,
                target=use_case,
                link=use_case.get_absolute_url(),
            )
    return use_case


def reject_use_case(*, actor: User, use_case_id: int, note: str) -> UseCase:
    check_is_reviewer(actor)
    note = (note or "").strip()
    if not note or len(note) > REVIEW_NOTE_MAX_LENGTH:
        raise ReviewNoteRequiredError
    with transaction.atomic():
        use_case = lock_use_case(use_case_id)
        if use_case.status != Status.SUBMITTED:
            raise InvalidStatusError("Only a submitted use case can be rejected.")
        now = timezone.now()
        use_case.status = Status.REJECTED
        use_case.reviewed_at = use_case.updated_at = now
        use_case.reviewed_by = actor
        use_case.review_note = note
        use_case.save(
            update_fields=["status", "reviewed_at", "updated_at", "reviewed_by", "review_note"]
        )
        if use_case.author is not None:
            notify(
                recipient=use_case.author,
                type="use_case_rejected",
                text=f"Your use case “{use_case.title}” needs changes: {note}",
                actor=actor,
                target=use_case,
                link=use_case.get_absolute_url(),
            )
    return use_case


def archive_use_case(*, actor: User, use_case_id: int) -> UseCase:
    """Take a published use case out of the library (its editors or staff)."""
    with transaction.atomic():
        use_case = lock_use_case(use_case_id)
        if not actor.is_staff:
            check_can_edit(actor, use_case)
        if use_case.status != Status.PUBLISHED:
            raise InvalidStatusError("Only a published use case can be archived.")
        use_case.status = Status.ARCHIVED
        use_case.is_featured = False
        use_case.updated_at = timezone.now()
        use_case.save(update_fields=["status", "is_featured", "updated_at"])
    return use_case


def set_featured(*, actor: User, use_case_id: int, featured: bool) -> UseCase:
    check_is_reviewer(actor)
    with transaction.atomic():
        use_case = lock_use_case(use_case_id)
        if use_case.status != Status.PUBLISHED:
            raise NotPublishedError
        use_case.is_featured = featured
        use_case.save(update_fields=["is_featured"])
    return use_case


def delete_use_case(*, actor: User, use_case_id: int) -> None:
    """Delete a use case that was never published (a draft or a rejected one)."""
    with transaction.atomic():
        use_case = lock_use_case(use_case_id)
        check_can_edit(actor, use_case)
        if use_case.status not in (Status.DRAFT, Status.REJECTED):
            raise InvalidStatusError("Only a draft or a rejected use case can be deleted.")
        from usecases.media import delete_files_on_commit  # media.py imports this module

        # Locked: a processing run finishes first, so the files it made are deleted too.
        delete_files_on_commit(Media.objects.select_for_update().filter(use_case=use_case))
        use_case.delete()


def get_reactable(actor: User, use_case_id: int) -> UseCase:
    use_case = get_use_case_row(use_case_id)
    check_can_view(actor, use_case)
    if use_case.status != Status.PUBLISHED:
        raise NotPublishedError
    return use_case


def set_reaction(
    model: type[UseCaseLike | UseCaseBookmark],
    counter: str,
    *,
    actor: User,
    use_case_id: int,
    on: bool | None,
) -> tuple[bool, int]:
    """Add or remove the actor's row (toggle when `on` is None) and move the counter by what
    actually changed, with F(), so the counter equals the number of rows under concurrency."""
    get_reactable(actor, use_case_id)
    with transaction.atomic():
        rows = model.objects.filter(use_case_id=use_case_id, user=actor)
        if on is None:
            on = not rows.exists()
        if on:
            try:
                with transaction.atomic():
                    model.objects.create(use_case_id=use_case_id, user=actor)
                delta = 1
            except IntegrityError:
                delta = 0
        else:
            delta = -rows.delete()[0]
        if delta:
            UseCase.objects.filter(pk=use_case_id).update(**{counter: F(counter) + delta})
        count = UseCase.objects.filter(pk=use_case_id).values_list(counter, flat=True).get()
    return on, count


def toggle_like(*, actor: User, use_case_id: int, liked: bool | None = None) -> tuple[bool, int]:
    """Like or unlike (toggle when `liked` is None); answers (liked, like_count)."""
    return set_reaction(UseCaseLike, "like_count", actor=actor, use_case_id=use_case_id, on=liked)


def toggle_bookmark(
    *, actor: User, use_case_id: int, bookmarked: bool | None = None
) -> tuple[bool, int]:
    """Bookmark or remove (toggle when `bookmarked` is None); answers (bookmarked, count)."""
    return set_reaction(
        UseCaseBookmark, "bookmark_count", actor=actor, use_case_id=use_case_id, on=bookmarked
    )


def record_view(*, actor: User, use_case_id: int) -> bool:
    """Count the actor's first view of a published use case (not the author's own); answers
    whether it was counted."""
    use_case = get_use_case_row(use_case_id)
    check_can_view(actor, use_case)
    if use_case.status != Status.PUBLISHED or use_case.author_id == actor.pk:
        return False
    with transaction.atomic():
        _, created = UseCaseView.objects.get_or_create(use_case_id=use_case_id, user=actor)
        if created:
            UseCase.objects.filter(pk=use_case_id).update(view_count=F("view_count") + 1)
    return created


def clean_metric(index: int, data: Mapping[str, Any]) -> OutcomeMetric:
    unknown = set(data) - METRIC_FIELDS
    if unknown:
        raise ValueError(f"Not metric fields: {sorted(unknown)}")
    metric = OutcomeMetric(
        metric=(data.get("metric") or "").strip(),
        unit=(data.get("unit") or "").strip(),
        baseline=data.get("baseline"),
        result=data.get("result"),
        period=(data.get("period") or "").strip(),
        higher_is_better=bool(data.get("higher_is_better", True)),
        position=index,
    )
    try:
        metric.full_clean(exclude=["use_case"])
    except ValidationError as error:
        raise ValidationError(
            {f"metrics.{index}.{name}": messages for name, messages in error.message_dict.items()}
        ) from error
    return metric


def metric_values(metric: OutcomeMetric) -> dict[str, object]:
    return {
        "metric": metric.metric,
        "unit": metric.unit,
        "baseline": str(metric.baseline),
        "result": str(metric.result),
        "period": metric.period,
        "higher_is_better": metric.higher_is_better,
    }


def set_metrics(
    *, actor: User, use_case_id: int, metrics: Iterable[Mapping[str, Any]]
) -> list[OutcomeMetric]:
    """Replace the quantified outcomes with `metrics` (in order); [] removes them all."""
    with transaction.atomic():
        use_case = lock_use_case(use_case_id)
        check_can_edit(actor, use_case)
        if use_case.status == Status.ARCHIVED:
            raise InvalidStatusError("An archived use case cannot be edited.")
        rows = [clean_metric(index, data) for index, data in enumerate(metrics)]
        if len(rows) > OutcomeMetric.MAX_PER_USE_CASE:
            raise ValidationError(
                {"metrics": f"At most {OutcomeMetric.MAX_PER_USE_CASE} outcome metrics."}
            )
        previous = list(OutcomeMetric.objects.filter(use_case=use_case))
        old_values = [metric_values(metric) for metric in previous]
        new_values = [metric_values(metric) for metric in rows]
        if old_values == new_values:
            return previous
        if use_case.status == Status.PUBLISHED:
            record_revision(use_case, actor, {"metrics": old_values})
        OutcomeMetric.objects.filter(use_case=use_case).delete()
        for metric in rows:
            metric.use_case = use_case
        OutcomeMetric.objects.bulk_create(rows)
        use_case.updated_at = timezone.now()
        use_case.save(update_fields=["updated_at"])
        refresh_metric_summary(use_case)
    return list(OutcomeMetric.objects.filter(use_case=use_case))


def refresh_metric_summary(use_case: UseCase) -> None:
    """Recount the metrics, their best improvement (in SQL, as the sort reads it) and the
    searched text, which holds the metric names."""
    summary = OutcomeMetric.objects.filter(use_case=use_case).aggregate(
        count=Count("id"), best=Max(improvement_expression())
    )
    use_case.metric_count = summary["count"]
    use_case.best_improvement = summary["best"]
    use_case.search_document = build_search_document(use_case, metric_names(use_case))
    use_case.save(update_fields=["metric_count", "best_improvement", "search_document"])
