import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from messaging.models import Notification
from messaging.notification_types import NOTIFICATION_TYPES
from usecases import selectors, services
from usecases.constants import Category
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
)
from usecases.tests.factories import UseCaseFactory, add_metrics

pytestmark = pytest.mark.services

Status = UseCase.Status

COMPLETE = {
    "title": "Machine vision for bottle cap inspection",
    "category": "quality_control",
    "problem": "Manual inspection missed *loose caps*.",
    "technology": "Two smart cameras over the conveyor.",
    "budget_range": "50k_250k",
    "outcomes": "Returns fell by 60%.",
    "challenges": "Glare from the lamps.",
    "site_name": "Riyadh bottling plant",
    "city": "riyadh",
    "contact_name": "Khalid Al-Otaibi",
    "contact_title": "Quality Lead",
}


def snapshot(use_case: UseCase) -> dict[str, Any]:
    """Every stored column of the use case, to assert a denied call changed nothing."""
    row = UseCase.objects.filter(pk=use_case.pk).values().get()
    return {
        **row,
        "tags": sorted(UseCaseTag.objects.filter(use_case=use_case).values_list("kind", "name")),
        "metrics": list(
            OutcomeMetric.objects.filter(use_case=use_case).values_list("metric", "result")
        ),
        "revisions": UseCaseRevision.objects.filter(use_case=use_case).count(),
        "likes": UseCaseLike.objects.filter(use_case=use_case).count(),
        "bookmarks": UseCaseBookmark.objects.filter(use_case=use_case).count(),
        "views": UseCaseView.objects.filter(use_case=use_case).count(),
    }


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def people(user_factory: Any, organization_factory: Any, staff: Any) -> dict[str, Any]:
    """The author, a colleague, their organization's admin, another organization's admin and
    member, and a platform staff member."""
    organization = organization_factory()
    other = organization_factory()
    return {
        "author": user_factory(organization=organization),
        "colleague": user_factory(organization=organization),
        "org_admin": user_factory(organization=organization, admin=True),
        "outsider": user_factory(organization=other),
        "outsider_admin": user_factory(organization=other, admin=True),
        "staff": staff,
    }


def draft_of(author: Any, **fields: Any) -> UseCase:
    return services.create_use_case(actor=author, fields=fields)


# Creating drafts


def test_create_use_case_accepts_a_partial_draft_of_the_actors_organization(
    user_factory: Any,
) -> None:
    author = user_factory()

    use_case = services.create_use_case(
        actor=author,
        fields={
            "title": "  Solar panels on the warehouse roof  ",
            "problem": "Power bills **doubled**.",
            "industry_tags": ["  Food  and Beverage ", "food and beverage", "Packaging"],
            "wizard_step": 2,
        },
    )

    stored = UseCase.objects.get()
    assert stored.pk == use_case.pk
    assert (stored.organization_id, stored.author_id, stored.status) == (
        author.organization_id,
        author.pk,
        Status.DRAFT,
    )
    assert stored.title == "Solar panels on the warehouse roof"
    assert stored.slug == "solar-panels-on-the-warehouse-roof"
    assert stored.problem_html == "<p>Power bills <strong>doubled</strong>.</p>"
    assert stored.industry_tags == ["food and beverage", "packaging"]
    assert sorted(UseCaseTag.objects.values_list("kind", "name")) == [
        ("industry", "food and beverage"),
        ("industry", "packaging"),
    ]
    assert (stored.budget_currency, stored.wizard_step, stored.category) == ("SAR", 2, "")
    assert "Solar panels" in stored.search_document
    assert "Power bills doubled" in stored.search_document


def test_create_use_case_with_no_fields_makes_an_empty_draft(user_factory: Any) -> None:
    use_case = services.create_use_case(actor=user_factory())

    assert (use_case.title, use_case.slug, use_case.status) == ("", "use-case", Status.DRAFT)


def test_create_use_case_without_organization_is_denied_and_stores_nothing(
    user_factory: Any,
) -> None:
    loner = user_factory(organization=None, email="loner@example.com")

    with pytest.raises(NoOrganizationError) as raised:
        services.create_use_case(actor=loner, fields={"title": "A title long enough"})

    assert raised.value.status == 403
    assert UseCase.objects.count() == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": "Too short"}, "title"),
        ({"title": "x" * 101}, "title"),
        ({"category": "astrology"}, "category"),
        ({"problem": "x" * 5001}, "problem"),
        ({"budget_range": "priceless"}, "budget_range"),
        ({"budget_amount": Decimal(-1)}, "budget_amount"),
        ({"budget_currency": "RIYAL"}, "budget_currency"),
        ({"city": "atlantis"}, "city"),
        ({"city": "riyadh", "latitude": 10, "longitude": 10}, "city"),
        ({"latitude": 24.5}, "latitude"),
        ({"latitude": 91, "longitude": 40}, "latitude"),
        ({"latitude": 20, "longitude": 181}, "longitude"),
        ({"industry_tags": [f"tag {n}" for n in range(11)]}, "industry_tags"),
        ({"technology_tags": ["x" * 41]}, "technology_tags"),
        ({"technology_tags": "iot"}, "technology_tags"),
        ({"vendor_website": "javascript:alert(1)"}, "vendor_website"),
        ({"visibility": "everyone"}, "visibility"),
        ({"implementation_months": 241}, "implementation_months"),
        ({"roi_percent": Decimal(-101)}, "roi_percent"),
        ({"wizard_step": 4}, "wizard_step"),
    ],
)
def test_create_use_case_rejects_an_invalid_field_and_stores_nothing(
    user_factory: Any, fields: dict[str, Any], field: str | None
) -> None:
    with pytest.raises(ValidationError) as raised:
        services.create_use_case(actor=user_factory(), fields=fields)

    if field is not None:
        assert list(raised.value.message_dict) == [field]
    assert UseCase.objects.count() == 0
    assert UseCaseTag.objects.count() == 0


def test_create_use_case_city_brings_its_coordinates_and_free_coordinates_clear_it(
    user_factory: Any,
) -> None:
    author = user_factory()
    use_case = draft_of(author, city="jeddah")
    assert (use_case.latitude, use_case.longitude) == (Decimal("21.48580"), Decimal("39.19250"))

    moved = services.update_use_case(
        actor=author,
        use_case_id=use_case.pk,
        fields={"latitude": "26.123456789", "longitude": 50.1},
    )

    assert (moved.city, moved.latitude, moved.longitude) == (
        "",
        Decimal("26.12346"),
        Decimal("50.10000"),
    )
    moved.refresh_from_db()
    assert (moved.city, moved.latitude) == ("", Decimal("26.12346"))


def test_create_use_case_same_title_in_one_organization_gets_a_suffixed_slug(
    user_factory: Any,
) -> None:
    author = user_factory()
    colleague = user_factory(organization=author.organization)
    stranger = user_factory()
    title = "Predictive maintenance of compressors"

    slugs = [
        draft_of(author, title=title).slug,
        draft_of(colleague, title=title).slug,
        draft_of(author, title=title).slug,
        draft_of(stranger, title=title).slug,
    ]

    base = "predictive-maintenance-of-compressors"
    assert slugs == [base, f"{base}-2", f"{base}-3", base]


def test_create_use_case_arabic_title_keeps_its_letters_in_the_slug(user_factory: Any) -> None:
    use_case = draft_of(user_factory(), title="الصيانة التنبؤية للضواغط")

    assert use_case.slug == "الصيانة-التنبؤية-للضواغط"


# Updating


def test_update_use_case_draft_by_author_or_org_admin_changes_only_given_fields(
    people: dict[str, Any],
) -> None:
    use_case = draft_of(people["author"], title="Energy audit of the furnace", city="dammam")

    services.update_use_case(
        actor=people["author"], use_case_id=use_case.pk, fields={"technology": "Heat sensors"}
    )
    services.update_use_case(
        actor=people["org_admin"],
        use_case_id=use_case.pk,
        fields={"title": "Energy audit of the glass furnace", "wizard_step": 2},
    )
    services.update_use_case(
        actor=people["author"], use_case_id=use_case.pk, fields={"wizard_step": 1}
    )

    stored = UseCase.objects.get(pk=use_case.pk)
    assert (stored.title, stored.technology, stored.city, stored.wizard_step) == (
        "Energy audit of the glass furnace",
        "Heat sensors",
        "dammam",
        2,
    )
    assert stored.slug == "energy-audit-of-the-glass-furnace"
    assert UseCaseRevision.objects.count() == 0


@pytest.mark.parametrize(
    ("who", "error", "status"),
    [
        ("colleague", UseCaseNotFoundError, 404),
        ("outsider", UseCaseNotFoundError, 404),
        ("outsider_admin", UseCaseNotFoundError, 404),
        ("staff", NotUseCaseEditorError, 403),
    ],
)
def test_update_use_case_draft_by_anyone_else_is_denied_and_changes_nothing(
    people: dict[str, Any], who: str, error: type[Exception], status: int
) -> None:
    use_case = draft_of(people["author"], title="Energy audit of the furnace")
    before = snapshot(use_case)

    with pytest.raises(error) as raised:
        services.update_use_case(
            actor=people[who], use_case_id=use_case.pk, fields={"title": "Taken over by others"}
        )

    assert raised.value.status == status
    assert snapshot(use_case) == before


def test_update_use_case_published_stays_published_and_records_a_revision(
    people: dict[str, Any], use_case_factory: Any
) -> None:
    use_case = use_case_factory(author=people["author"])
    slug = use_case.slug

    services.update_use_case(
        actor=people["author"],
        use_case_id=use_case.pk,
        fields={
            "title": "Vibration monitoring, one year on",
            "technology_tags": ["IoT", "Edge"],
            "roi_percent": Decimal("35.5"),
        },
    )

    stored = UseCase.objects.get(pk=use_case.pk)
    assert (stored.status, stored.title, stored.slug) == (
        Status.PUBLISHED,
        "Vibration monitoring, one year on",
        slug,
    )
    assert sorted(
        UseCaseTag.objects.filter(use_case=use_case, kind="technology").values_list(
            "name", flat=True
        )
    ) == ["edge", "iot"]
    revision = UseCaseRevision.objects.get()
    assert revision.editor == people["author"]
    assert revision.changed_fields == ["roi_percent", "technology_tags", "title"]
    assert revision.previous_values == {
        "roi_percent": None,
        "technology_tags": ["iot", "vibration analysis"],
        "title": use_case.title,
    }


def test_update_use_case_published_with_nothing_changed_records_no_revision(
    people: dict[str, Any], use_case_factory: Any
) -> None:
    use_case = use_case_factory(author=people["author"], budget_amount=Decimal("180000"))

    services.update_use_case(
        actor=people["author"],
        use_case_id=use_case.pk,
        fields={
            "title": use_case.title,
            "budget_amount": Decimal("180000.0"),
            "city": "jubail",
            "technology_tags": ["IoT", "vibration analysis"],
        },
    )

    assert UseCaseRevision.objects.count() == 0


def test_update_use_case_published_cannot_clear_a_required_field(
    people: dict[str, Any], use_case_factory: Any
) -> None:
    use_case = use_case_factory(author=people["author"])
    before = snapshot(use_case)

    with pytest.raises(IncompleteUseCaseError) as raised:
        services.update_use_case(
            actor=people["author"], use_case_id=use_case.pk, fields={"outcomes": "", "city": None}
        )

    assert raised.value.missing_fields == ["outcomes", "city"]
    assert snapshot(use_case) == before


def test_update_use_case_published_by_a_colleague_member_is_denied(
    people: dict[str, Any], use_case_factory: Any
) -> None:
    use_case = use_case_factory(author=people["author"])
    before = snapshot(use_case)

    with pytest.raises(NotUseCaseEditorError):
        services.update_use_case(
            actor=people["colleague"], use_case_id=use_case.pk, fields={"title": "Not mine"}
        )

    assert snapshot(use_case) == before


def test_update_use_case_archived_is_refused(people: dict[str, Any], use_case_factory: Any) -> None:
    use_case = use_case_factory(author=people["author"], archived=True)
    before = snapshot(use_case)

    with pytest.raises(InvalidStatusError) as raised:
        services.update_use_case(
            actor=people["author"], use_case_id=use_case.pk, fields={"title": "Back from dust"}
        )

    assert raised.value.status == 409
    assert snapshot(use_case) == before


def test_update_use_case_unknown_id_is_not_found(user_factory: Any) -> None:
    with pytest.raises(UseCaseNotFoundError):
        services.update_use_case(actor=user_factory(), use_case_id=999_999, fields={})


# Submitting and reviewing


def test_submit_use_case_lists_exactly_the_missing_fields_and_changes_nothing(
    people: dict[str, Any],
) -> None:
    use_case = draft_of(
        people["author"],
        title="Machine vision for bottle cap inspection",
        category="quality_control",
        problem="Loose caps.",
        latitude=24.1,
        longitude=46.2,
    )
    before = snapshot(use_case)

    with pytest.raises(IncompleteUseCaseError) as raised:
        services.submit_use_case(actor=people["author"], use_case_id=use_case.pk)

    missing = [
        "technology",
        "budget_range",
        "outcomes",
        "challenges",
        "site_name",
        "contact_name",
        "contact_title",
    ]
    assert (raised.value.status, raised.value.code) == (422, "incomplete")
    assert raised.value.missing_fields == missing
    assert raised.value.extra["missing_fields"] == missing
    assert raised.value.extra["errors"][0] == {
        "field": "technology",
        "message": "This field is required.",
    }
    assert snapshot(use_case) == before


def test_submit_use_case_complete_draft_goes_to_review(people: dict[str, Any]) -> None:
    use_case = draft_of(people["author"], **COMPLETE)

    services.submit_use_case(actor=people["author"], use_case_id=use_case.pk)

    stored = UseCase.objects.get(pk=use_case.pk)
    assert (stored.status, stored.wizard_step) == (Status.SUBMITTED, 3)
    assert stored.submitted_at is not None
    assert list(selectors.list_review_queue(people["staff"])) == [stored]


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("colleague", UseCaseNotFoundError),
        ("outsider_admin", UseCaseNotFoundError),
        ("staff", NotUseCaseEditorError),
    ],
)
def test_submit_use_case_by_others_is_denied(
    people: dict[str, Any], who: str, error: type[Exception]
) -> None:
    use_case = draft_of(people["author"], **COMPLETE)
    before = snapshot(use_case)

    with pytest.raises(error):
        services.submit_use_case(actor=people[who], use_case_id=use_case.pk)

    assert snapshot(use_case) == before


def test_submit_use_case_twice_is_refused(people: dict[str, Any]) -> None:
    use_case = draft_of(people["author"], **COMPLETE)
    services.submit_use_case(actor=people["author"], use_case_id=use_case.pk)

    with pytest.raises(InvalidStatusError):
        services.submit_use_case(actor=people["author"], use_case_id=use_case.pk)


def test_publish_use_case_by_staff_publishes_and_notifies_the_author(
    people: dict[str, Any], use_case_factory: Any, run_on_commit: Any
) -> None:
    use_case = use_case_factory(author=people["author"], submitted=True)

    with run_on_commit():
        services.publish_use_case(actor=people["staff"], use_case_id=use_case.pk)

    stored = UseCase.objects.get(pk=use_case.pk)
    assert (stored.status, stored.reviewed_by, stored.review_note) == (
        Status.PUBLISHED,
        people["staff"],
        "",
    )
    assert stored.published_at is not None
    notification = Notification.objects.get()
    assert (notification.recipient, notification.type, notification.actor) == (
        people["author"],
        "use_case_published",
        people["staff"],
    )
    assert notification.text == f"Your use case “{use_case.title}” was published."
    assert notification.link == f"/use-cases/{use_case.organization.slug}/{use_case.slug}/"


@pytest.mark.parametrize("who", ["author", "org_admin", "outsider"])
def test_publish_use_case_by_non_staff_is_denied_and_notifies_nobody(
    people: dict[str, Any], use_case_factory: Any, run_on_commit: Any, who: str
) -> None:
    use_case = use_case_factory(author=people["author"], submitted=True)
    before = snapshot(use_case)

    with run_on_commit(), pytest.raises(NotReviewerError) as raised:
        services.publish_use_case(actor=people[who], use_case_id=use_case.pk)

    assert raised.value.status == 403
    assert snapshot(use_case) == before
    assert Notification.objects.count() == 0


def test_publish_use_case_draft_is_refused(people: dict[str, Any], use_case_factory: Any) -> None:
    use_case = use_case_factory(author=people["author"], draft=True)

    with pytest.raises(InvalidStatusError):
        services.publish_use_case(actor=people["staff"], use_case_id=use_case.pk)

    assert UseCase.objects.get(pk=use_case.pk).status == Status.DRAFT
    assert Notification.objects.count() == 0


def test_reject_use_case_keeps_the_note_and_notifies_the_author(
    people: dict[str, Any], use_case_factory: Any, run_on_commit: Any
) -> None:
    use_case = use_case_factory(author=people["author"], submitted=True)

    with run_on_commit():
        services.reject_use_case(
            actor=people["staff"], use_case_id=use_case.pk, note="  Please add the budget.  "
        )

    stored = UseCase.objects.get(pk=use_case.pk)
    assert (stored.status, stored.review_note, stored.published_at) == (
        Status.REJECTED,
        "Please add the budget.",
        None,
    )
    notification = Notification.objects.get()
    assert (notification.recipient, notification.type) == (people["author"], "use_case_rejected")
    assert notification.text == (
        f"Your use case “{use_case.title}” needs changes: Please add the budget."
    )

    # Reworked and submitted again, it returns to the queue.
    services.submit_use_case(actor=people["author"], use_case_id=use_case.pk)
    assert UseCase.objects.get(pk=use_case.pk).status == Status.SUBMITTED


@pytest.mark.parametrize("note", ["", "   ", "x" * 1001])
def test_reject_use_case_without_a_valid_note_is_refused(
    people: dict[str, Any], use_case_factory: Any, note: str
) -> None:
    use_case = use_case_factory(author=people["author"], submitted=True)
    before = snapshot(use_case)

    with pytest.raises(ReviewNoteRequiredError) as raised:
        services.reject_use_case(actor=people["staff"], use_case_id=use_case.pk, note=note)

    assert raised.value.status == 422
    assert snapshot(use_case) == before
    assert Notification.objects.count() == 0


def test_reject_use_case_by_the_author_is_denied(
    people: dict[str, Any], use_case_factory: Any
) -> None:
    use_case = use_case_factory(author=people["author"], submitted=True)
    before = snapshot(use_case)

    with pytest.raises(NotReviewerError):
        services.reject_use_case(actor=people["author"], use_case_id=use_case.pk, note="Meh")

    assert snapshot(use_case) == before
    assert Notification.objects.count() == 0


def test_publish_use_case_freezes_the_slug(people: dict[str, Any]) -> None:
    use_case = draft_of(people["author"], **COMPLETE)
    services.submit_use_case(actor=people["author"], use_case_id=use_case.pk)
    services.publish_use_case(actor=people["staff"], use_case_id=use_case.pk)

    services.update_use_case(
        actor=people["author"],
        use_case_id=use_case.pk,
        fields={"title": "A completely different title now"},
    )

    stored = UseCase.objects.get(pk=use_case.pk)
    assert stored.slug == "machine-vision-for-bottle-cap-inspection"
    assert stored.title == "A completely different title now"


def test_notification_types_of_use_cases_are_registered() -> None:
    assert {"use_case_published", "use_case_rejected"} <= NOTIFICATION_TYPES.keys()


# Archive, feature, delete


@pytest.mark.parametrize("who", ["author", "org_admin", "staff"])
def test_archive_use_case_by_editor_or_staff(
    people: dict[str, Any], use_case_factory: Any, who: str
) -> None:
    use_case = use_case_factory(author=people["author"], is_featured=True)

    services.archive_use_case(actor=people[who], use_case_id=use_case.pk)

    stored = UseCase.objects.get(pk=use_case.pk)
    assert (stored.status, stored.is_featured) == (Status.ARCHIVED, False)


@pytest.mark.parametrize(
    ("who", "error"),
    [("colleague", NotUseCaseEditorError), ("outsider_admin", NotUseCaseEditorError)],
)
def test_archive_use_case_by_others_is_denied(
    people: dict[str, Any], use_case_factory: Any, who: str, error: type[Exception]
) -> None:
    use_case = use_case_factory(author=people["author"])
    before = snapshot(use_case)

    with pytest.raises(error):
        services.archive_use_case(actor=people[who], use_case_id=use_case.pk)

    assert snapshot(use_case) == before


def test_set_featured_by_staff_only_on_published(
    people: dict[str, Any], use_case_factory: Any
) -> None:
    published = use_case_factory(author=people["author"])
    draft = use_case_factory(author=people["author"], draft=True)

    services.set_featured(actor=people["staff"], use_case_id=published.pk, featured=True)
    with pytest.raises(NotPublishedError):
        services.set_featured(actor=people["staff"], use_case_id=draft.pk, featured=True)
    with pytest.raises(NotReviewerError):
        services.set_featured(actor=people["author"], use_case_id=published.pk, featured=False)

    assert list(UseCase.objects.order_by("pk").values_list("is_featured", flat=True)) == [
        True,
        False,
    ]


@pytest.mark.parametrize("who", ["author", "org_admin"])
def test_delete_use_case_draft_by_author_or_org_admin(
    people: dict[str, Any], use_case_factory: Any, who: str
) -> None:
    use_case = use_case_factory(author=people["author"], draft=True)
    add_metrics(use_case, [("Scrap rate", "10", "5", False)])

    services.delete_use_case(actor=people[who], use_case_id=use_case.pk)

    assert UseCase.objects.count() == 0
    assert OutcomeMetric.objects.count() == 0
    assert UseCaseTag.objects.count() == 0


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("colleague", UseCaseNotFoundError),
        ("outsider_admin", UseCaseNotFoundError),
        ("staff", NotUseCaseEditorError),
    ],
)
def test_delete_use_case_by_others_is_denied(
    people: dict[str, Any], use_case_factory: Any, who: str, error: type[Exception]
) -> None:
    use_case = use_case_factory(author=people["author"], draft=True)
    before = snapshot(use_case)

    with pytest.raises(error):
        services.delete_use_case(actor=people[who], use_case_id=use_case.pk)

    assert snapshot(use_case) == before


def test_delete_use_case_published_is_refused(
    people: dict[str, Any], use_case_factory: Any
) -> None:
    use_case = use_case_factory(author=people["author"])

    with pytest.raises(InvalidStatusError):
        services.delete_use_case(actor=people["author"], use_case_id=use_case.pk)

    assert UseCase.objects.filter(pk=use_case.pk).exists()


# Likes, bookmarks, views


def test_toggle_like_adds_then_removes_and_keeps_the_count(
    people: dict[str, Any], use_case_factory: Any
) -> None:
    use_case = use_case_factory(author=people["author"])

    first = services.toggle_like(actor=people["outsider"], use_case_id=use_case.pk)
    second = services.toggle_like(actor=people["colleague"], use_case_id=use_case.pk)
    again = services.toggle_like(actor=people["colleague"], use_case_id=use_case.pk, liked=True)
    removed = services.toggle_like(actor=people["outsider"], use_case_id=use_case.pk)

    assert [first, second, again, removed] == [(True, 1), (True, 2), (True, 2), (False, 1)]
    assert list(UseCaseLike.objects.values_list("user_id", flat=True)) == [people["colleague"].pk]
    assert UseCase.objects.get(pk=use_case.pk).like_count == 1


def test_toggle_like_organization_only_by_outsider_is_not_found_and_writes_nothing(
    people: dict[str, Any], use_case_factory: Any
) -> None:
    use_case = use_case_factory(author=people["author"], organization_only=True)
    before = snapshot(use_case)

    with pytest.raises(UseCaseNotFoundError):
        services.toggle_like(actor=people["outsider"], use_case_id=use_case.pk)
    with pytest.raises(UseCaseNotFoundError):
        services.toggle_bookmark(actor=people["outsider"], use_case_id=use_case.pk)
    with pytest.raises(UseCaseNotFoundError):
        services.record_view(actor=people["outsider"], use_case_id=use_case.pk)

    assert snapshot(use_case) == before
    assert services.toggle_like(actor=people["colleague"], use_case_id=use_case.pk) == (True, 1)


def test_toggle_like_of_a_draft_is_refused(people: dict[str, Any], use_case_factory: Any) -> None:
    use_case = use_case_factory(author=people["author"], draft=True)
    before = snapshot(use_case)

    with pytest.raises(NotPublishedError):
        services.toggle_like(actor=people["author"], use_case_id=use_case.pk)
    with pytest.raises(UseCaseNotFoundError):
        services.toggle_like(actor=people["outsider"], use_case_id=use_case.pk)

    assert snapshot(use_case) == before


def test_toggle_bookmark_sets_and_clears(people: dict[str, Any], use_case_factory: Any) -> None:
    use_case = use_case_factory(author=people["author"])
    reader = people["outsider"]

    results = [
        services.toggle_bookmark(actor=reader, use_case_id=use_case.pk),
        services.toggle_bookmark(actor=reader, use_case_id=use_case.pk, bookmarked=True),
        services.toggle_bookmark(actor=reader, use_case_id=use_case.pk),
        services.toggle_bookmark(actor=reader, use_case_id=use_case.pk, bookmarked=False),
    ]

    assert results == [(True, 1), (True, 1), (False, 0), (False, 0)]
    assert UseCaseBookmark.objects.count() == 0


def test_record_view_counts_each_reader_once_and_not_the_author(
    people: dict[str, Any], use_case_factory: Any
) -> None:
    use_case = use_case_factory(author=people["author"])

    counted = [
        services.record_view(actor=people["outsider"], use_case_id=use_case.pk),
        services.record_view(actor=people["outsider"], use_case_id=use_case.pk),
        services.record_view(actor=people["colleague"], use_case_id=use_case.pk),
        services.record_view(actor=people["author"], use_case_id=use_case.pk),
    ]

    assert counted == [True, False, True, False]
    assert UseCase.objects.get(pk=use_case.pk).view_count == 2
    assert UseCaseView.objects.count() == 2


# Metrics


def test_set_metrics_replaces_rows_and_computes_the_best_improvement(
    people: dict[str, Any],
) -> None:
    use_case = draft_of(people["author"], title="Compressed air leak hunting")
    services.set_metrics(
        actor=people["author"],
        use_case_id=use_case.pk,
        metrics=[{"metric": "Old", "baseline": 1, "result": 2}],
    )

    rows = services.set_metrics(
        actor=people["author"],
        use_case_id=use_case.pk,
        metrics=[
            {
                "metric": "Energy use",
                "unit": "MWh",
                "baseline": Decimal("200"),
                "result": Decimal("150"),
                "period": "12 months",
                "higher_is_better": False,
            },
            {"metric": "Uptime", "unit": "%", "baseline": "90", "result": "99"},
            {"metric": "New alarms", "baseline": "0", "result": "4"},
        ],
    )

    assert [(m.metric, m.position, m.improvement) for m in rows] == [
        ("Energy use", 0, Decimal("25.00")),
        ("Uptime", 1, Decimal("10.00")),
        ("New alarms", 2, None),
    ]
    stored = UseCase.objects.get(pk=use_case.pk)
    assert (stored.metric_count, stored.best_improvement) == (3, Decimal("25.00"))
    assert "Energy use" in stored.search_document
    assert "Old" not in stored.search_document.split()
    assert UseCaseRevision.objects.count() == 0


def test_set_metrics_on_published_records_the_previous_rows(
    people: dict[str, Any], use_case_factory: Any
) -> None:
    use_case = use_case_factory(author=people["author"])
    add_metrics(use_case, [("Scrap rate", "10", "5", False)])

    services.set_metrics(actor=people["org_admin"], use_case_id=use_case.pk, metrics=[])

    stored = UseCase.objects.get(pk=use_case.pk)
    assert (stored.status, stored.metric_count, stored.best_improvement) == (
        Status.PUBLISHED,
        0,
        None,
    )
    revision = UseCaseRevision.objects.get()
    assert (revision.editor, revision.changed_fields) == (people["org_admin"], ["metrics"])
    assert revision.previous_values["metrics"][0]["metric"] == "Scrap rate"


def test_set_metrics_invalid_row_names_it_and_changes_nothing(
    people: dict[str, Any], use_case_factory: Any
) -> None:
    use_case = use_case_factory(author=people["author"])
    add_metrics(use_case, [("Scrap rate", "10", "5", False)])
    before = snapshot(use_case)

    with pytest.raises(ValidationError) as raised:
        services.set_metrics(
            actor=people["author"],
            use_case_id=use_case.pk,
            metrics=[
                {"metric": "Fine", "baseline": 1, "result": 2},
                {"metric": "", "baseline": "lots", "result": 2},
            ],
        )
    with pytest.raises(ValidationError) as too_many:
        services.set_metrics(
            actor=people["author"],
            use_case_id=use_case.pk,
            metrics=[{"metric": f"M{n}", "baseline": 1, "result": 2} for n in range(21)],
        )

    assert sorted(raised.value.message_dict) == ["metrics.1.baseline", "metrics.1.metric"]
    assert list(too_many.value.message_dict) == ["metrics"]
    assert snapshot(use_case) == before


@pytest.mark.parametrize(
    ("who", "error"),
    [("colleague", NotUseCaseEditorError), ("outsider", NotUseCaseEditorError)],
)
def test_set_metrics_by_others_is_denied(
    people: dict[str, Any], use_case_factory: Any, who: str, error: type[Exception]
) -> None:
    use_case = use_case_factory(author=people["author"])
    add_metrics(use_case, [("Scrap rate", "10", "5", False)])
    before = snapshot(use_case)

    with pytest.raises(error):
        services.set_metrics(
            actor=people[who],
            use_case_id=use_case.pk,
            metrics=[{"metric": "Mine now", "baseline": 1, "result": 2}],
        )

    assert snapshot(use_case) == before


# Who sees what


def test_check_can_view_agrees_with_visible_use_cases_for_every_person_and_status(
    people: dict[str, Any], use_case_factory: Any, user_factory: Any
) -> None:
    people = {**people, "inactive": user_factory(is_active=False)}
    author = people["author"]
    use_cases = {
        f"{status}/{visibility}": use_case_factory(
            author=author, status=status, visibility=visibility
        )
        for status in Status.values
        for visibility in UseCase.Visibility.values
    }
    expected_visible = {
        "author": set(use_cases),
        "org_admin": set(use_cases),
        "staff": set(use_cases),
        "colleague": {"published/public", "published/organization"},
        "outsider": {"published/public"},
        "outsider_admin": {"published/public"},
        "inactive": set(),
    }

    for who, person in people.items():
        allowed = {
            key for key, use_case in use_cases.items() if services.can_view(person, use_case)
        }
        queried = set(selectors.visible_use_cases(person).values_list("pk", flat=True))
        assert allowed == expected_visible[who], who
        assert queried == {use_cases[key].pk for key in allowed}, who


def test_check_can_edit_allows_author_and_org_admins_only(
    people: dict[str, Any], use_case_factory: Any
) -> None:
    use_case = use_case_factory(author=people["author"])

    outcomes = {}
    for who, person in people.items():
        try:
            services.check_can_edit(person, use_case)
        except (NotUseCaseEditorError, UseCaseNotFoundError) as error:
            outcomes[who] = error.code
        else:
            outcomes[who] = "allowed"

    assert outcomes == {
        "author": "allowed",
        "colleague": "not_use_case_editor",
        "org_admin": "allowed",
        "outsider": "not_use_case_editor",
        "outsider_admin": "not_use_case_editor",
        "staff": "not_use_case_editor",
    }


# Concurrency (each thread has its own connection and commits)


def run_at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..count-1) in `count` threads released together; answers results or errors."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_toggle_like_twenty_people_at_once_keeps_the_count_exact(
    user_factory: Any, use_case_factory: Any
) -> None:
    use_case = use_case_factory()
    readers = user_factory.create_batch(20)

    liked = run_at_once(
        20, lambda i: services.toggle_like(actor=readers[i], use_case_id=use_case.pk, liked=True)
    )
    assert sorted(result[0] for result in liked) == [True] * 20
    assert UseCase.objects.get(pk=use_case.pk).like_count == 20
    assert UseCaseLike.objects.count() == 20

    unliked = run_at_once(
        20, lambda i: services.toggle_like(actor=readers[i], use_case_id=use_case.pk)
    )
    assert [result[0] for result in unliked] == [False] * 20
    assert UseCase.objects.get(pk=use_case.pk).like_count == 0
    assert UseCaseLike.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_reactions_one_person_ten_times_at_once_count_once(
    user_factory: Any, use_case_factory: Any
) -> None:
    use_case = use_case_factory()
    reader = user_factory()

    likes = run_at_once(
        10, lambda i: services.toggle_like(actor=reader, use_case_id=use_case.pk, liked=True)
    )
    views = run_at_once(10, lambda i: services.record_view(actor=reader, use_case_id=use_case.pk))
    bookmarks = run_at_once(
        10,
        lambda i: services.toggle_bookmark(actor=reader, use_case_id=use_case.pk, bookmarked=True),
    )

    assert [result[0] for result in likes] == [True] * 10
    assert sorted(views) == [False] * 9 + [True]
    assert [result[0] for result in bookmarks] == [True] * 10
    stored = UseCase.objects.get(pk=use_case.pk)
    assert (stored.like_count, stored.view_count, stored.bookmark_count) == (1, 1, 1)
    assert (UseCaseLike.objects.count(), UseCaseView.objects.count()) == (1, 1)
    assert UseCaseBookmark.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_create_use_case_same_title_ten_times_at_once_gets_ten_slugs(
    user_factory: Any, organization_factory: Any
) -> None:
    organization = organization_factory()
    authors = user_factory.create_batch(10, organization=organization)

    created = run_at_once(
        10,
        lambda i: (
            services.create_use_case(
                actor=authors[i], fields={"title": "Digital twin of the kiln"}
            ).slug
        ),
    )

    base = "digital-twin-of-the-kiln"
    assert sorted(created) == sorted([base] + [f"{base}-{n}" for n in range(2, 11)])
    assert UseCase.objects.count() == 10


def test_factory_builds_rows_as_the_services_would(db: None) -> None:
    use_case: UseCase = UseCaseFactory()

    assert use_case.problem_html.startswith("<p>Unplanned <strong>downtime</strong>")
    assert sorted(UseCaseTag.objects.values_list("name", flat=True)) == [
        "iot",
        "metal fabrication",
        "vibration analysis",
    ]


def test_create_demo_use_cases_is_complete_and_idempotent(
    db: None, django_capture_on_commit_callbacks: Any
) -> None:
    from accounts.demo import seed_demo_accounts
    from usecases.demo import create_demo_use_cases

    seed_demo_accounts()
    with django_capture_on_commit_callbacks(execute=True):
        created = create_demo_use_cases()
    again = create_demo_use_cases()

    assert (len(created), again) == (12, [])
    published = UseCase.objects.filter(status=Status.PUBLISHED)
    assert published.count() == 12
    assert set(published.values_list("category", flat=True)) == set(Category.values)
    assert all(services.missing_fields(use_case) == [] for use_case in published)
    assert published.filter(metric_count__gt=0).count() == 12
    assert len(set(published.values_list("city", flat=True))) >= 9
    for use_case in published:
        assert use_case.like_count == UseCaseLike.objects.filter(use_case=use_case).count()
        assert use_case.view_count == UseCaseView.objects.filter(use_case=use_case).count()
    assert UseCaseView.objects.count() > 0
    covers = Media.objects.filter(use_case__in=published)
    assert covers.count() == 12
    assert set(covers.values_list("kind", "status", "content_type")) == {
        ("image", "ready", "image/jpeg")
    }
    assert all(cover.thumbnail_small and cover.thumbnail_large for cover in covers)
