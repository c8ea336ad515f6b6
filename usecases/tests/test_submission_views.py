"""The guided submission pages: the three steps, uploads, removal, previews and "Submit for
review", for the callers who may use them and those who may not."""

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from pytest_django.asserts import assertRedirects

from accounts.models import User
from messaging.models import StreamEvent
from usecases import services
from usecases.models import Media, OutcomeMetric, UseCase, UseCaseRevision, UseCaseTag
from usecases.tests.factories import add_metrics
from usecases.tests.test_media import jpeg_with_exif, pdf, png, renamed_html, stored_files

pytestmark = pytest.mark.django_db

NEW_URL = "/use-cases/new/"
PREVIEW_URL = "/use-cases/preview/"


def edit_url(use_case: UseCase, step: int) -> str:
    return f"/use-cases/{use_case.pk}/edit/{step}/"


def submit_url(use_case: UseCase) -> str:
    return f"/use-cases/{use_case.pk}/submit/"


def remove_url(media: Media) -> str:
    return f"/use-cases/{media.use_case_id}/media/{media.pk}/remove/"


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def html_of(response: Any) -> str:
    return response.content.decode()


def flashed(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def row_of(use_case: UseCase) -> dict[str, Any]:
    """Every stored column of the use case, to prove that a refused request changed nothing."""
    use_case.refresh_from_db()
    return {field.attname: getattr(use_case, field.attname) for field in UseCase._meta.fields}


def site_data(**overrides: Any) -> dict[str, Any]:
    return {
        "site_name": "Yanbu plant, tablet line 2",
        "city": "yanbu",
        "latitude": "",
        "longitude": "",
        "visibility": "public",
        "contact_name": "Tariq Al-Subaie",
        "contact_title": "Automation Engineer",
        "action": "continue",
        **overrides,
    }


def metric_rows(*rows: dict[str, Any], deleted: tuple[int, ...] = ()) -> dict[str, Any]:
    data: dict[str, Any] = {
        "metrics-TOTAL_FORMS": str(len(rows)),
        "metrics-INITIAL_FORMS": "0",
        "metrics-MIN_NUM_FORMS": "0",
        "metrics-MAX_NUM_FORMS": "20",
    }
    for index, row in enumerate(rows):
        values = {
            "metric": "",
            "unit": "",
            "baseline": "",
            "result": "",
            "period": "",
            "higher_is_better": "higher",
            **row,
        }
        for name, value in values.items():
            data[f"metrics-{index}-{name}"] = value
        if index in deleted:
            data[f"metrics-{index}-DELETE"] = "on"
    return data


def story_data(*rows: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "title": "Machine vision cuts tablet defects by 60%",
        "category": "quality_control",
        "problem": "Our **tablet press** rejected 3% of tablets.",
        "technology": "Two line-scan cameras and a rejection gate.",
        "budget_range": "50k_250k",
        "budget_currency": "SAR",
        "budget_amount": "120000",
        "outcomes": "Defects fell to 1.2%.",
        "challenges": "Lighting took three tries.",
        "industry_tags": "Pharmaceuticals, tablet pressing",
        "technology_tags": "machine vision, PLC",
        "vendor_name": "Vision Systems Co",
        "vendor_website": "https://vision.example",
        "implementation_months": "4",
        "roi_percent": "85.5",
        "payback_months": "14",
        "action": "save",
        **metric_rows(*rows),
        **overrides,
    }


# People and use cases


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


@pytest.fixture
def author(user_factory: Any, organization_factory: Any) -> User:
    return user_factory(
        organization=organization_factory(name="Yanbu Pharmaceuticals"),
        first_name="Tariq",
        last_name="Al-Subaie",
        job_title="Automation Engineer",
    )


@pytest.fixture
def org_admin(user_factory: Any, author: User) -> User:
    return user_factory(organization=author.organization, admin=True)


@pytest.fixture
def colleague(user_factory: Any, author: User) -> User:
    """A member of the author's organization who is neither the author nor an admin."""
    return user_factory(organization=author.organization)


@pytest.fixture
def outsider(user_factory: Any) -> User:
    return user_factory()


@pytest.fixture
def draft(author: User) -> UseCase:
    return services.create_use_case(
        actor=author,
        fields={"site_name": "Tablet line 2", "city": "yanbu", "wizard_step": 2},
    )


@pytest.fixture
def complete_draft(use_case_factory: Any, author: User) -> UseCase:
    return use_case_factory(author=author, draft=True, wizard_step=3)


@pytest.fixture
def published(use_case_factory: Any, author: User) -> UseCase:
    return use_case_factory(author=author, wizard_step=3)


# Who may open the steps


STEPS = [NEW_URL, "edit:1", "edit:2", "edit:3", "submit"]


def url_for(target: str, use_case: UseCase) -> str:
    if target == "submit":
        return submit_url(use_case)
    if target.startswith("edit:"):
        return edit_url(use_case, int(target.split(":")[1]))
    return target


@pytest.mark.parametrize(
    ("target", "method"),
    [
        (target, method)
        for target in STEPS
        for method in ("get", "post")
        if (target, method) != ("submit", "get")
    ],
)
def test_submission_pages_send_anonymous_callers_to_sign_in(
    client: Client, draft: UseCase, target: str, method: str
) -> None:
    url = url_for(target, draft)
    before = row_of(draft)

    response = getattr(client, method)(url, site_data())

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert row_of(draft) == before
    assert UseCase.objects.count() == 1


@pytest.mark.parametrize("target", ["edit:1", "edit:2", "edit:3", "submit"])
def test_submission_pages_answer_404_to_another_organization(
    client: Client, outsider: User, complete_draft: UseCase, target: str
) -> None:
    signed_in(client, outsider)
    before = row_of(complete_draft)

    if target != "submit":
        assert client.get(url_for(target, complete_draft)).status_code == 404
    response = client.post(url_for(target, complete_draft), site_data())

    assert response.status_code == 404
    assert row_of(complete_draft) == before


@pytest.mark.parametrize("target", ["edit:1", "edit:2", "edit:3"])
def test_a_colleague_cannot_even_see_a_draft(
    client: Client, colleague: User, draft: UseCase, target: str
) -> None:
    signed_in(client, colleague)

    assert client.get(url_for(target, draft)).status_code == 404


@pytest.mark.parametrize("target", ["edit:1", "edit:2", "edit:3", "submit"])
def test_a_colleague_who_can_read_it_gets_403(
    client: Client, colleague: User, published: UseCase, target: str
) -> None:
    signed_in(client, colleague)
    before = row_of(published)

    if target != "submit":
        assert client.get(url_for(target, published)).status_code == 403
    response = client.post(url_for(target, published), site_data(site_name="Taken over"))

    assert response.status_code == 403
    assert row_of(published) == before
    assert not UseCaseRevision.objects.exists()


def test_another_organization_may_read_a_public_use_case_but_not_edit_it(
    client: Client, outsider: User, published: UseCase
) -> None:
    signed_in(client, outsider)
    before = row_of(published)

    assert client.get(edit_url(published, 2)).status_code == 403
    assert (
        client.post(edit_url(published, 2), story_data(title="Not theirs to change")).status_code
        == 403
    )
    assert row_of(published) == before


def test_an_upload_by_a_colleague_is_refused_and_stores_nothing(
    client: Client, colleague: User, published: UseCase, media_root: Path
) -> None:
    signed_in(client, colleague)

    response = client.post(edit_url(published, 3), {"files": [png()]})

    assert response.status_code == 403
    assert not Media.objects.exists()
    assert stored_files(media_root) == []


@pytest.mark.parametrize("step", [1, 2, 3])
def test_the_organization_admin_may_edit_every_step(
    client: Client, org_admin: User, draft: UseCase, step: int
) -> None:
    signed_in(client, org_admin)

    assert client.get(edit_url(draft, step)).status_code == 200


def test_an_unknown_step_is_not_found(client: Client, author: User, draft: UseCase) -> None:
    signed_in(client, author)

    assert client.get(edit_url(draft, 4)).status_code == 404
    assert client.get(edit_url(draft, 0)).status_code == 404


def test_a_member_without_organization_cannot_start_one(client: Client, user_factory: Any) -> None:
    signed_in(client, user_factory(organization=None, email="loner@example.com"))

    assert client.get(NEW_URL).status_code == 403
    assert client.post(NEW_URL, site_data()).status_code == 403
    assert not UseCase.objects.exists()


def test_an_archived_use_case_cannot_be_edited(
    client: Client, author: User, use_case_factory: Any
) -> None:
    archived = use_case_factory(author=author, archived=True)
    signed_in(client, author)

    response = client.get(edit_url(archived, 1))

    assertRedirects(response, "/use-cases/", fetch_redirect_response=False)
    assert flashed(response) == ["An archived use case cannot be edited."]


# Step 1


def test_step_1_prefills_the_organization_and_the_contact(client: Client, author: User) -> None:
    signed_in(client, author)

    response = client.get(NEW_URL)

    html = html_of(response)
    assert response.status_code == 200
    assert "Yanbu Pharmaceuticals" in html
    assert 'name="contact_name" value="Tariq Al-Subaie"' in html
    assert 'name="contact_title" value="Automation Engineer"' in html
    assert re.search(r'value="public"[^>]*checked', html)
    assert 'aria-current="step"' in html


def test_step_1_creates_a_draft_and_goes_to_step_2(client: Client, author: User) -> None:
    signed_in(client, author)

    response = client.post(NEW_URL, site_data())

    use_case = UseCase.objects.get()
    assertRedirects(response, edit_url(use_case, 2), fetch_redirect_response=False)
    assert (use_case.status, use_case.wizard_step) == (UseCase.Status.DRAFT, 2)
    assert (use_case.author, use_case.organization) == (author, author.organization)
    assert (use_case.site_name, use_case.city, use_case.visibility) == (
        "Yanbu plant, tablet line 2",
        "yanbu",
        "public",
    )
    assert (use_case.latitude, use_case.longitude) == (Decimal("24.08950"), Decimal("38.06180"))
    assert (use_case.contact_name, use_case.contact_title) == (
        "Tariq Al-Subaie",
        "Automation Engineer",
    )


def test_step_1_save_draft_stays_on_the_step(client: Client, author: User) -> None:
    signed_in(client, author)

    response = client.post(NEW_URL, site_data(action="save", city="", visibility="organization"))

    use_case = UseCase.objects.get()
    assertRedirects(response, edit_url(use_case, 1), fetch_redirect_response=False)
    assert flashed(response) == ["Your draft is saved."]
    assert (use_case.wizard_step, use_case.visibility, use_case.city) == (1, "organization", "")


def test_step_1_takes_free_coordinates_instead_of_a_city(
    client: Client, author: User, draft: UseCase
) -> None:
    signed_in(client, author)

    response = client.post(
        edit_url(draft, 1), site_data(city="", latitude="25.1234567", longitude="49.5")
    )

    assertRedirects(response, edit_url(draft, 2), fetch_redirect_response=False)
    draft.refresh_from_db()
    assert (draft.city, draft.latitude, draft.longitude) == (
        "",
        Decimal("25.12346"),
        Decimal("49.50000"),
    )
    # The form shows them back, and no city.
    html = html_of(client.get(edit_url(draft, 1)))
    assert 'name="latitude" value="25.12346"' in html


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"latitude": "24.1", "longitude": "38.1"},
            "city",
            "Choose a city or give coordinates, not both.",
        ),
        (
            {"city": "", "latitude": "24.1"},
            "longitude",
            "Give both latitude and longitude, or neither.",
        ),
        ({"city": "atlantis"}, "city", "Select a valid choice."),
        ({"city": "", "latitude": "95", "longitude": "40"}, "latitude", "less than or equal"),
    ],
)
def test_step_1_refuses_bad_input_keeps_it_and_creates_nothing(
    client: Client, author: User, overrides: dict[str, str], field: str, message: str
) -> None:
    signed_in(client, author)

    response = client.post(NEW_URL, site_data(site_name="Kept as typed", **overrides))

    assert response.status_code == 200
    assert not UseCase.objects.exists()
    assert message in " ".join(response.context["form"].errors[field])
    assert 'value="Kept as typed"' in html_of(response)
    assert 'aria-invalid="true"' in html_of(response)


def test_step_1_shows_the_step_indicator_up_to_the_furthest_step(
    client: Client, author: User, draft: UseCase
) -> None:
    signed_in(client, author)

    html = html_of(client.get(edit_url(draft, 1)))

    assert f'href="{edit_url(draft, 2)}"' in html
    assert f'href="{edit_url(draft, 3)}"' not in html


# Step 2


def test_step_2_saves_a_partial_draft_and_keeps_the_furthest_step(
    client: Client, author: User, draft: UseCase
) -> None:
    UseCase.objects.filter(pk=draft.pk).update(wizard_step=3)
    signed_in(client, author)
    data = {
        **{name: "" for name in story_data()},
        **metric_rows(),
        "title": "Machine vision on the tablet line",
        "problem": "Defects **everywhere**.",
        "budget_currency": "",
        "industry_tags": " Pharmaceuticals ,,tablet   pressing ",
        "action": "save",
    }

    response = client.post(edit_url(draft, 2), data)

    assertRedirects(response, edit_url(draft, 2), fetch_redirect_response=False)
    assert flashed(response) == ["Your draft is saved."]
    draft.refresh_from_db()
    assert (draft.title, draft.problem, draft.technology, draft.category) == (
        "Machine vision on the tablet line",
        "Defects **everywhere**.",
        "",
        "",
    )
    assert "<strong>everywhere</strong>" in draft.problem_html
    assert draft.industry_tags == ["pharmaceuticals", "tablet pressing"]
    assert sorted(UseCaseTag.objects.filter(use_case=draft).values_list("name", flat=True)) == [
        "pharmaceuticals",
        "tablet pressing",
    ]
    assert draft.budget_currency == "SAR"
    assert draft.wizard_step == 3
    assert draft.status == UseCase.Status.DRAFT


def test_step_2_continue_goes_to_step_3_and_records_it(
    client: Client, author: User, draft: UseCase
) -> None:
    signed_in(client, author)

    response = client.post(edit_url(draft, 2), story_data(action="continue"))

    assertRedirects(response, edit_url(draft, 3), fetch_redirect_response=False)
    draft.refresh_from_db()
    assert draft.wizard_step == 3
    assert (draft.category, draft.budget_range, draft.budget_amount) == (
        "quality_control",
        "50k_250k",
        Decimal("120000.00"),
    )
    assert (draft.implementation_months, draft.roi_percent, draft.payback_months) == (
        4,
        Decimal("85.50"),
        14,
    )
    assert draft.technology_tags == ["machine vision", "plc"]
    assert draft.vendor_website == "https://vision.example"
    assert services.missing_fields(draft) == ["contact_name", "contact_title"]


def test_step_2_saves_the_metric_rows_in_order_and_skips_blank_ones(
    client: Client, author: User, draft: UseCase
) -> None:
    signed_in(client, author)
    rows = (
        {
            "metric": "Defect rate",
            "unit": "%",
            "baseline": "3",
            "result": "1.2",
            "period": "6 months",
            "higher_is_better": "lower",
        },
        {},
        {"metric": "Throughput", "unit": "tablets/h", "baseline": "40000", "result": "46000"},
    )

    response = client.post(edit_url(draft, 2), story_data(*rows))

    assert response.status_code == 302
    metrics = list(
        OutcomeMetric.objects.filter(use_case=draft).values_list(
            "metric", "unit", "baseline", "result", "period", "higher_is_better", "position"
        )
    )
    assert metrics == [
        ("Defect rate", "%", Decimal("3"), Decimal("1.2"), "6 months", False, 0),
        ("Throughput", "tablets/h", Decimal("40000"), Decimal("46000"), "", True, 1),
    ]
    draft.refresh_from_db()
    assert (draft.metric_count, draft.best_improvement) == (2, Decimal("60.00"))
    # The page shows them back, with a blank row to add one more.
    html = html_of(client.get(edit_url(draft, 2)))
    assert 'value="Defect rate"' in html
    assert 'name="metrics-TOTAL_FORMS" value="3"' in html
    assert 'name="metrics-2-metric"' in html


def test_step_2_removes_a_metric_row_marked_for_deletion(
    client: Client, author: User, draft: UseCase
) -> None:
    add_metrics(draft, [("Defect rate", "3", "1.2", False), ("Scrap", "10", "5", False)])
    signed_in(client, author)
    data = story_data(
        {"metric": "Defect rate", "baseline": "3", "result": "1.2", "higher_is_better": "lower"},
        {"metric": "Scrap", "baseline": "10", "result": "5", "higher_is_better": "lower"},
    )
    data["metrics-INITIAL_FORMS"] = "2"
    data["metrics-0-DELETE"] = "on"

    client.post(edit_url(draft, 2), data)

    assert list(OutcomeMetric.objects.filter(use_case=draft).values_list("metric", flat=True)) == [
        "Scrap"
    ]


def test_step_2_without_javascript_shows_three_blank_metric_rows(
    client: Client, author: User, draft: UseCase
) -> None:
    signed_in(client, author)

    html = html_of(client.get(edit_url(draft, 2)))

    assert 'name="metrics-TOTAL_FORMS" value="3"' in html
    assert "<template data-metric-template>" in html
    assert 'name="metrics-__prefix__-metric"' in html
    for name in ("problem", "technology", "outcomes", "challenges"):
        assert f'id="id_{name}_helptext"' in html


def test_step_2_an_incomplete_metric_row_saves_nothing_and_keeps_the_input(
    client: Client, author: User, draft: UseCase
) -> None:
    signed_in(client, author)
    before = row_of(draft)

    response = client.post(
        edit_url(draft, 2),
        story_data({"metric": "Defect rate", "baseline": "3"}, title="A title typed with care"),
    )

    assert response.status_code == 200
    row_errors = response.context["formset"].forms[0].errors
    assert row_errors["result"] == ["Needed in a filled row."]
    assert row_of(draft) == before
    assert not OutcomeMetric.objects.exists()
    html = html_of(response)
    assert 'value="A title typed with care"' in html
    assert 'value="Defect rate"' in html


def test_step_2_a_service_refusal_shows_next_to_its_field_and_changes_nothing(
    client: Client, author: User, draft: UseCase
) -> None:
    signed_in(client, author)
    before = row_of(draft)

    response = client.post(
        edit_url(draft, 2),
        story_data({"metric": "Defect rate", "baseline": "3", "result": "1"}, title="Too short"),
    )

    assert response.status_code == 200
    assert response.context["form"].errors["title"] == [
        "Ensure this value has at least 10 characters (it has 9)."
    ]
    assert row_of(draft) == before
    assert not OutcomeMetric.objects.exists()
    assert "Our **tablet press** rejected 3% of tablets." in html_of(response)


def test_step_2_refuses_more_than_ten_tags(client: Client, author: User, draft: UseCase) -> None:
    signed_in(client, author)
    before = row_of(draft)

    response = client.post(
        edit_url(draft, 2), story_data(industry_tags=", ".join(f"tag {n}" for n in range(11)))
    )

    assert response.context["form"].errors["industry_tags"] == ["At most 10 tags; this has 11."]
    assert row_of(draft) == before


def test_step_2_preview_renders_the_answers_and_saves_nothing(
    client: Client, author: User, draft: UseCase
) -> None:
    signed_in(client, author)
    before = row_of(draft)

    response = client.post(edit_url(draft, 2), {**story_data(), "preview": "1"})

    assert response.status_code == 200
    assert "Our <strong>tablet press</strong> rejected 3% of tablets." in html_of(response)
    assert row_of(draft) == before


def test_editing_a_published_use_case_keeps_it_published_and_records_a_revision(
    client: Client, author: User, published: UseCase
) -> None:
    signed_in(client, author)
    old_title = published.title

    response = client.post(
        edit_url(published, 2),
        {
            **story_data(),
            "title": "Vibration monitoring, one year on",
            "action": "save",
        },
    )

    assertRedirects(response, edit_url(published, 2), fetch_redirect_response=False)
    assert flashed(response) == ["Your changes are saved and published."]
    published.refresh_from_db()
    assert published.status == UseCase.Status.PUBLISHED
    assert published.title == "Vibration monitoring, one year on"
    revision = UseCaseRevision.objects.filter(use_case=published).order_by("id").first()
    assert revision is not None
    assert revision.previous_values["title"] == old_title


def test_editing_a_published_use_case_cannot_empty_a_required_answer(
    client: Client, author: User, published: UseCase
) -> None:
    signed_in(client, author)
    before = row_of(published)

    response = client.post(edit_url(published, 2), story_data(challenges=""))

    assert response.status_code == 200
    assert response.context["form"].errors["challenges"] == [
        "A published use case needs this; it cannot be emptied."
    ]
    assert row_of(published) == before
    assert not UseCaseRevision.objects.exists()


def test_a_rejected_use_case_shows_the_reviewers_note_on_every_step(
    client: Client, author: User, use_case_factory: Any
) -> None:
    rejected = use_case_factory(
        author=author, rejected=True, review_note="Add the defect rate before and after."
    )
    signed_in(client, author)

    for step in (1, 2, 3):
        html = html_of(client.get(edit_url(rejected, step)))
        assert "A reviewer asked for changes" in html
        assert "Add the defect rate before and after." in html


# Step 3: attachments


def test_step_3_uploads_an_image_that_is_pending_then_ready(
    client: Client,
    author: User,
    draft: UseCase,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    signed_in(client, author)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(edit_url(draft, 3), {"files": [jpeg_with_exif(64, 48)]})

    assertRedirects(response, f"{edit_url(draft, 3)}#media", fetch_redirect_response=False)
    assert flashed(response) == ["1 file is uploaded. It is being processed."]
    media = Media.objects.get()
    assert (media.use_case, media.kind, media.status, media.original_name) == (
        draft,
        "image",
        "pending",
        "site.jpg",
    )
    html = html_of(client.get(edit_url(draft, 3)))
    assert f'data-media-id="{media.pk}"' in html
    assert 'data-status="pending"' in html

    for callback in callbacks:  # the processing task, as the worker would run it
        callback()

    media.refresh_from_db()
    assert media.status == "ready"
    assert StreamEvent.objects.filter(user=author, type="media_ready").count() == 1
    html = html_of(client.get(edit_url(draft, 3)))
    assert f'src="/use-cases/media/{media.pk}/small/"' in html
    assert 'data-status="ready"' in html


def test_step_3_refuses_a_renamed_html_file_and_stores_nothing(
    client: Client, author: User, draft: UseCase, media_root: Path
) -> None:
    signed_in(client, author)

    response = client.post(edit_url(draft, 3), {"files": [renamed_html()]})

    assert response.status_code == 200
    errors = response.context["form"].errors["files"]
    assert len(errors) == 1
    assert errors[0].startswith('"evil.png" is ')
    assert "cannot be uploaded. Upload JPEG, PNG or WebP images" in errors[0]
    assert "evil.png" in html_of(response)
    assert not Media.objects.exists()
    assert stored_files(media_root) == []


def test_step_3_names_each_refused_file_and_stores_none_of_the_good_ones(
    client: Client, author: User, draft: UseCase, media_root: Path
) -> None:
    signed_in(client, author)

    response = client.post(edit_url(draft, 3), {"files": [png(), renamed_html(), pdf()]})

    errors = response.context["form"].errors["files"]
    assert [error.split('"')[1] for error in errors] == ["evil.png"]
    assert not Media.objects.exists()
    assert stored_files(media_root) == []


def test_step_3_asks_for_a_file_when_none_is_chosen(
    client: Client, author: User, draft: UseCase
) -> None:
    signed_in(client, author)

    response = client.post(edit_url(draft, 3), {})

    assert response.context["form"].errors["files"] == ["Choose at least one file to upload."]
    assert not Media.objects.exists()


def test_step_3_refuses_files_past_the_limit(
    client: Client, author: User, draft: UseCase, settings: Any
) -> None:
    signed_in(client, author)
    client.post(edit_url(draft, 3), {"files": [pdf(name=f"sheet {n}.pdf") for n in range(9)]})

    response = client.post(edit_url(draft, 3), {"files": [pdf(), pdf(name="second.pdf")]})

    assert response.context["form"].errors["files"] == [
        "A use case has at most 10 files: this one has 9 and the upload adds 2."
    ]
    assert Media.objects.count() == 9


def test_step_3_removes_an_attachment(
    client: Client,
    author: User,
    draft: UseCase,
    media_root: Path,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    signed_in(client, author)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(edit_url(draft, 3), {"files": [pdf()]})
    media = Media.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(remove_url(media))

    assertRedirects(response, f"{edit_url(draft, 3)}#media", fetch_redirect_response=False)
    assert flashed(response)[-1] == "“datasheet.pdf” is removed."
    assert not Media.objects.exists()
    assert stored_files(media_root) == []


def test_removing_an_attachment_is_refused_to_others(
    client: Client, outsider: User, colleague: User, author: User, use_case_factory: Any
) -> None:
    published = use_case_factory(author=author, organization_only=True)
    media = Media.objects.create(
        use_case=published,
        uploaded_by=author,
        kind="pdf",
        content_type="application/pdf",
        original_name="datasheet.pdf",
        size_bytes=10,
        file="use-cases/x/datasheet.pdf",
    )

    assert signed_in(client, outsider).post(remove_url(media)).status_code == 404
    assert signed_in(client, colleague).post(remove_url(media)).status_code == 403
    assert (
        signed_in(client, author)
        .post(f"/use-cases/{published.pk}/media/{media.pk + 1}/remove/")
        .status_code
        == 404
    )
    assert Media.objects.filter(pk=media.pk).exists()


# Step 3: review and submission


def test_step_3_lists_what_is_missing_with_links_to_its_step(
    client: Client, author: User, draft: UseCase
) -> None:
    signed_in(client, author)

    response = client.get(edit_url(draft, 3))

    missing = {item["label"]: item["url"] for item in response.context["missing"]}
    assert missing == {
        "Title": f"{edit_url(draft, 2)}#id_title",
        "Category": f"{edit_url(draft, 2)}#id_category",
        "1. What problem did you have?": f"{edit_url(draft, 2)}#id_problem",
        "2. What technology did you put in place?": f"{edit_url(draft, 2)}#id_technology",
        "3. What did it cost?": f"{edit_url(draft, 2)}#id_budget_range",
        "4. What changed?": f"{edit_url(draft, 2)}#id_outcomes",
        "5. What was hard, and what would you do differently?": (
            f"{edit_url(draft, 2)}#id_challenges"
        ),
        "Contact person": f"{edit_url(draft, 1)}#id_contact_name",
        "Their job title": f"{edit_url(draft, 1)}#id_contact_title",
    }
    assert 'id="missing-fields"' in html_of(response)


def test_submitting_with_fields_missing_lists_them_and_changes_nothing(
    client: Client, author: User, draft: UseCase
) -> None:
    signed_in(client, author)
    before = row_of(draft)

    response = client.post(submit_url(draft))

    assert response.status_code == 200
    assert response.context["is_submit_refused"] is True
    html = html_of(response)
    assert "It cannot be submitted yet: 9 fields are missing." in html
    assert f'href="{edit_url(draft, 2)}#id_category"' in html
    assert f'href="{edit_url(draft, 1)}#id_contact_name"' in html
    assert row_of(draft) == before
    assert draft.status == UseCase.Status.DRAFT
    assert draft.submitted_at is None


def test_submitting_a_complete_draft_sends_it_to_review(
    client: Client, author: User, complete_draft: UseCase
) -> None:
    signed_in(client, author)

    response = client.post(submit_url(complete_draft))

    assertRedirects(response, edit_url(complete_draft, 3), fetch_redirect_response=False)
    assert flashed(response) == [
        "Your use case is submitted for review. You will be notified when it is reviewed."
    ]
    complete_draft.refresh_from_db()
    assert complete_draft.status == UseCase.Status.SUBMITTED
    assert complete_draft.submitted_at is not None
    html = html_of(client.get(edit_url(complete_draft, 3)))
    assert '<span class="badge badge--status badge--submitted" id="use-case-status">' in html
    assert "Submitted for review" in html
    assert f'action="{submit_url(complete_draft)}' not in html


def test_submitting_twice_says_so_and_changes_nothing(
    client: Client, author: User, complete_draft: UseCase
) -> None:
    signed_in(client, author)
    client.post(submit_url(complete_draft))
    before = row_of(complete_draft)

    response = client.post(submit_url(complete_draft))

    assertRedirects(response, edit_url(complete_draft, 3), fetch_redirect_response=False)
    assert flashed(response)[-1] == "Only a draft or a rejected use case can be submitted."
    assert row_of(complete_draft) == before


def test_submit_answers_only_post(client: Client, author: User, complete_draft: UseCase) -> None:
    signed_in(client, author)

    assert client.get(submit_url(complete_draft)).status_code == 405
    complete_draft.refresh_from_db()
    assert complete_draft.status == UseCase.Status.DRAFT


# The live preview


def test_preview_renders_markdown_as_the_use_case_will(client: Client, author: User) -> None:
    signed_in(client, author)

    response = client.post(PREVIEW_URL, {"content": "**Bold** <script>x</script>"})

    assert response.status_code == 200
    html = response.json()["html"]
    assert "<strong>Bold</strong>" in html
    assert "<script>" not in html


def test_preview_refuses_anonymous_callers_and_overlong_text(client: Client, author: User) -> None:
    assert client.post(PREVIEW_URL, {"content": "x"}).status_code == 401

    signed_in(client, author)
    response = client.post(PREVIEW_URL, {"content": "x" * 5001})

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_content"
