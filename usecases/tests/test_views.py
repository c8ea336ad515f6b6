import re
from decimal import Decimal
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pytest_django.asserts import assertInHTML, assertRedirects, assertTemplateUsed

from accounts.models import User
from messaging.models import Notification
from usecases import selectors
from usecases.constants import BudgetRange, Category
from usecases.models import Media, UseCase, UseCaseBookmark, UseCaseLike, UseCaseView
from usecases.tests.factories import UseCaseFactory, add_metrics
from usecases.tests.test_media import (  # noqa: F401  (media_root and s3 are fixtures)
    add,
    media_root,
    pdf,
    png,
    s3,
)
from usecases.views import MetricChart, SaudiMap

pytestmark = [pytest.mark.django_db]

Status = UseCase.Status


# People and use cases


@pytest.fixture
def sara(user_factory: Any, organization_factory: Any) -> User:
    return user_factory(
        organization=organization_factory(name="Jubail Valves", slug="jubail-valves"),
        first_name="Sara",
        last_name="Haddad",
    )


@pytest.fixture
def colleague(user_factory: Any, sara: User) -> User:
    return user_factory(organization=sara.organization, first_name="Faisal", last_name="Aziz")


@pytest.fixture
def omar(user_factory: Any, organization_factory: Any) -> User:
    return user_factory(
        organization=organization_factory(name="Najd Foods", slug="najd-foods"),
        first_name="Omar",
        last_name="Khalil",
    )


@pytest.fixture
def reviewer(user_factory: Any, organization_factory: Any) -> User:
    return user_factory(
        organization=organization_factory(name="P2P Sandbox", slug="p2p-sandbox"),
        first_name="Mona",
        last_name="Staff",
        is_staff=True,
    )


@pytest.fixture
def published(sara: User) -> UseCase:
    use_case = UseCaseFactory(
        author=sara,
        title="Vision inspection of valve castings",
        slug="vision-inspection",
        category=Category.QUALITY_CONTROL,
        problem="Porosity **defects** reached customers.",
        technology="A camera line with a trained model.",
        outcomes="Escapes fell to nearly zero.",
        challenges="Lighting the parts evenly.",
        site_name="Foundry 1",
        city="jubail",
        budget_range=BudgetRange.FROM_250K_TO_1M,
        budget_amount=Decimal("480000"),
        budget_currency="SAR",
        industry_tags=["valves"],
        technology_tags=["machine vision", "ai"],
        vendor_name="Optic Systems",
        vendor_website="https://optic.example/",
        implementation_months=7,
        roi_percent=Decimal("135.5"),
        payback_months=14,
        contact_name="Sara Haddad",
        contact_title="Quality Manager",
    )
    add_metrics(use_case, [("Defect escapes", "120", "6", False), ("Throughput", "400", "460")])
    return use_case


@pytest.fixture
def organization_only(sara: User) -> UseCase:
    return UseCaseFactory(
        author=sara, title="Internal energy dashboard", slug="energy", organization_only=True
    )


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def html_of(response: Any) -> str:
    return response.content.decode()


def flashed(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def card_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="use-case-card" data-use-case-id="(\d+)"', html)]


def option_texts(html: str, name: str) -> list[str]:
    select = re.search(rf'<select id="filter-{name}" name="{name}">(.*?)</select>', html, re.S)
    assert select is not None
    return [unescape(text) for text in re.findall(r"<option [^>]*>([^<]*)</option>", select[1])]


def selected_value(html: str, name: str) -> str:
    select = re.search(rf'<select id="filter-{name}" name="{name}">(.*?)</select>', html, re.S)
    assert select is not None
    chosen = re.search(r'<option value="([^"]*)" selected>', select[1])
    return unescape(chosen[1]) if chosen else ""


def ready_media(use_case: UseCase, kind: str = Media.Kind.IMAGE, **fields: Any) -> Media:
    """A processed media row; its files need not exist for the pages that only link to it."""
    names = {
        "file": f"use-cases/{use_case.pk}/original.jpg",
        "thumbnail_small": f"use-cases/{use_case.pk}/original-small.webp",
        "thumbnail_large": f"use-cases/{use_case.pk}/original-large.webp",
    }
    if kind != Media.Kind.IMAGE:
        names = {"file": f"use-cases/{use_case.pk}/document.pdf"}
    defaults = {
        "kind": kind,
        "content_type": "image/jpeg" if kind == Media.Kind.IMAGE else "application/pdf",
        "original_name": "line.jpg" if kind == Media.Kind.IMAGE else "datasheet.pdf",
        "size_bytes": 2048,
        "status": Media.Status.READY,
        "width": 1280,
        "height": 960,
        **names,
    }
    return Media.objects.create(use_case=use_case, **{**defaults, **fields})


# Every page is for signed-in members


@pytest.mark.parametrize(
    "path",
    [
        "/use-cases/",
        "/use-cases/mine/",
        "/use-cases/bookmarks/",
        "/use-cases/review/",
        "/use-cases/jubail-valves/vision-inspection/",
        "/use-cases/media/1/original/",
        "/use-cases/1/delete/",
    ],
)
def test_pages_send_anonymous_visitors_to_sign_in(client: Client, path: str) -> None:
    response = client.get(path)

    assertRedirects(response, f"/accounts/login/?next={path}", fetch_redirect_response=False)


@pytest.mark.parametrize("action", ["like", "bookmark", "archive"])
def test_buttons_of_anonymous_visitors_write_nothing(
    client: Client, published: UseCase, action: str
) -> None:
    response = client.post(f"/use-cases/{published.pk}/{action}/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    published.refresh_from_db()
    assert (published.status, published.like_count, published.bookmark_count) == (
        Status.PUBLISHED,
        0,
        0,
    )


def test_url_names_line_up_with_paths(published: UseCase) -> None:
    assert reverse("usecases:library") == "/use-cases/"
    assert reverse("usecases:mine") == "/use-cases/mine/"
    assert reverse("usecases:bookmarks") == "/use-cases/bookmarks/"
    assert reverse("usecases:review-queue") == "/use-cases/review/"
    assert (
        reverse("usecases:detail", args=["jubail-valves", "vision-inspection"])
        == published.get_absolute_url()
    )
    image = ready_media(published)
    assert reverse("usecases:media", args=[image.pk, "small"]) == selectors.media_url(
        image, "small"
    )


# The library


def test_library_lists_what_the_member_may_see(
    client: Client,
    sara: User,
    colleague: User,
    omar: User,
    published: UseCase,
    organization_only: UseCase,
) -> None:
    omars_public = UseCaseFactory(author=omar, title="Cold-chain sensors for dairy trucks")
    omars_internal = UseCaseFactory(author=omar, organization_only=True)
    draft = UseCaseFactory(author=sara, draft=True)
    submitted = UseCaseFactory(author=sara, submitted=True)

    as_colleague = html_of(signed_in(client, colleague).get("/use-cases/"))
    as_omar = html_of(signed_in(Client(), omar).get("/use-cases/"))

    assert sorted(card_ids(as_colleague)) == sorted(
        [published.pk, organization_only.pk, omars_public.pk]
    )
    assert sorted(card_ids(as_omar)) == sorted([published.pk, omars_public.pk, omars_internal.pk])
    assert draft.pk not in card_ids(as_colleague) + card_ids(as_omar)
    assert submitted.pk not in card_ids(as_colleague) + card_ids(as_omar)
    assert "3 use cases" in as_omar


def test_library_renders_cards_with_their_facts(
    client: Client, colleague: User, published: UseCase
) -> None:
    image = ready_media(published, caption="The camera cell")

    response = signed_in(client, colleague).get("/use-cases/")

    assert response.status_code == 200
    assertTemplateUsed(response, "usecases/library.html")
    html = html_of(response)
    assertInHTML(
        '<a href="/use-cases/jubail-valves/vision-inspection/">'
        "Vision inspection of valve castings</a>",
        html,
    )
    assertInHTML(
        f'<img src="/use-cases/media/{image.pk}/small/" alt="The camera cell" loading="lazy"'
        ' width="320" height="180">',
        html,
    )
    assertInHTML('<span class="badge badge--category">Quality Control</span>', html)
    assertInHTML(
        '<a class="tag" href="/use-cases/?technology_tag=machine%20vision">machine vision</a>',
        html,
    )
    assert "Porosity defects reached customers." in html
    # Defect escapes fell from 120 to 6, lower being better: a 95% improvement.
    assertInHTML(
        '<div class="use-case-card__improvement"><dt>Best improvement</dt>'
        "<dd><bdi>+95%</bdi></dd></div>",
        html,
    )
    assert '<a class="nav-link" href="/use-cases/" aria-current="page">Use cases</a>' in html


def test_library_search_finds_words_of_any_section(
    client: Client, colleague: User, published: UseCase, omar: User
) -> None:
    other = UseCaseFactory(author=omar, title="Solar panels on the warehouse roof")

    found = html_of(signed_in(client, colleague).get("/use-cases/", {"search": "porosity"}))
    by_title = html_of(client.get("/use-cases/", {"search": "solar roof"}))

    assert card_ids(found) == [published.pk]
    assert card_ids(by_title) == [other.pk]
    assertInHTML(
        '<input class="use-case-search__input" type="search" id="library-search" name="search"'
        ' value="porosity" maxlength="200"'
        ' placeholder="Search problems, technologies, outcomes…" form="library-filters">',
        found,
    )
    # Searching sorts by relevance unless another order is chosen.
    assert selected_value(found, "sort") == "relevance"
    assert "Best match" in option_texts(found, "sort")
    assert "Best match" not in option_texts(html_of(client.get("/use-cases/")), "sort")


def test_library_filters_and_counts_each_value_with_the_other_filters(
    client: Client, colleague: User, omar: User, published: UseCase
) -> None:
    riyadh_ai = UseCaseFactory(
        author=omar,
        category=Category.ARTIFICIAL_INTELLIGENCE,
        city="riyadh",
        budget_range=BudgetRange.UNDER_50K,
        industry_tags=["food"],
        technology_tags=["ai"],
    )
    UseCaseFactory(
        author=omar,
        category=Category.QUALITY_CONTROL,
        city="riyadh",
        technology_tags=["iot"],
    )
    signed_in(client, colleague)

    everything = html_of(client.get("/use-cases/"))
    riyadh = html_of(client.get("/use-cases/", {"city": "riyadh"}))
    ai_in_riyadh = html_of(client.get("/use-cases/", {"city": "riyadh", "technology_tag": "AI"}))

    assert option_texts(everything, "category") == [
        "Any category",
        "Quality Control (2)",
        "Artificial Intelligence (1)",
    ]
    assert option_texts(everything, "city") == ["Any city", "Riyadh (2)", "Jubail (1)"]
    assert option_texts(everything, "has_metrics") == [
        "With or without",
        "With quantified outcomes (1)",
        "Without quantified outcomes (2)",
    ]
    assert option_texts(everything, "organization") == [
        "Any organization",
        "Najd Foods (2)",
        "Jubail Valves (1)",
    ]
    assert len(card_ids(riyadh)) == 2
    # Choosing a city counts the categories among its use cases, and every city still counts.
    assert option_texts(riyadh, "category") == [
        "Any category",
        "Artificial Intelligence (1)",
        "Quality Control (1)",
    ]
    assert option_texts(riyadh, "city") == ["Any city", "Riyadh (2)", "Jubail (1)"]
    assert selected_value(riyadh, "city") == "riyadh"
    assert card_ids(ai_in_riyadh) == [riyadh_ai.pk]
    assert selected_value(ai_in_riyadh, "technology_tag") == "ai"
    assert option_texts(ai_in_riyadh, "technology_tag")[:3] == [
        "Any technology",
        "ai (1)",
        "iot (1)",
    ]
    assertInHTML(
        '<a class="filter-chip" href="/use-cases/?city=riyadh"><span>Technology: ai</span>'
        ' <span class="filter-chip__remove">Remove</span></a>',
        ai_in_riyadh,
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"category": Category.QUALITY_CONTROL}, "quality"),
        ({"industry_tag": "valves"}, "quality"),
        ({"budget_range": BudgetRange.UNDER_50K}, "cheap"),
        ({"has_metrics": "yes"}, "quality"),
        ({"has_metrics": "no"}, "cheap"),
        ({"organization": "najd-foods"}, "cheap"),
        ({"city": "jubail"}, "quality"),
    ],
)
def test_library_each_filter_narrows_the_list(
    client: Client,
    colleague: User,
    omar: User,
    published: UseCase,
    query: dict[str, str],
    expected: str,
) -> None:
    cheap = UseCaseFactory(
        author=omar,
        category=Category.ENERGY_EFFICIENCY,
        budget_range=BudgetRange.UNDER_50K,
        city="dammam",
        industry_tags=["food"],
    )

    html = html_of(signed_in(client, colleague).get("/use-cases/", query))

    assert card_ids(html) == [{"quality": published.pk, "cheap": cheap.pk}[expected]]


def test_library_keeps_a_chosen_value_that_matches_nothing(
    client: Client, colleague: User, published: UseCase
) -> None:
    html = html_of(
        signed_in(client, colleague).get("/use-cases/", {"category": Category.SUPPLY_CHAIN})
    )

    assert card_ids(html) == []
    assert option_texts(html, "category")[:2] == ["Any category", "Supply Chain (0)"]
    assert selected_value(html, "category") == Category.SUPPLY_CHAIN
    assert "No use case matches these filters. Remove one to see more." in html


def test_library_ignores_values_it_does_not_know(
    client: Client, colleague: User, published: UseCase
) -> None:
    response = signed_in(client, colleague).get(
        "/use-cases/",
        {
            "category": "perpetual_motion",
            "city": "atlantis",
            "budget_range": "priceless",
            "has_metrics": "maybe",
            "sort": "random",
            "page": "lots",
        },
    )

    assert response.status_code == 200
    html = html_of(response)
    assert card_ids(html) == [published.pk]
    assert selected_value(html, "sort") == "newest"
    assert selected_value(html, "category") == ""


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("newest", ["c", "b", "a"]),
        ("most_viewed", ["b", "a", "c"]),
        ("most_liked", ["a", "c", "b"]),
        ("biggest_improvement", ["c", "a", "b"]),
    ],
)
def test_library_sorts(
    client: Client, colleague: User, omar: User, sort: str, order: list[str]
) -> None:
    rows = {
        "a": UseCaseFactory(author=omar, view_count=5, like_count=9),
        "b": UseCaseFactory(author=omar, view_count=50, like_count=1),
        "c": UseCaseFactory(author=omar, view_count=1, like_count=4),
    }
    add_metrics(rows["a"], [("Scrap", "100", "80", False)])
    add_metrics(rows["c"], [("Output", "100", "150")])

    html = html_of(signed_in(client, colleague).get("/use-cases/", {"sort": sort}))

    assert card_ids(html) == [rows[key].pk for key in order]
    assert selected_value(html, "sort") == sort


def test_library_paginates_and_keeps_the_filters(
    client: Client, colleague: User, omar: User
) -> None:
    rows = [UseCaseFactory(author=omar, city="yanbu") for _ in range(14)]
    signed_in(client, colleague)

    first = html_of(client.get("/use-cases/", {"city": "yanbu"}))
    second = html_of(client.get("/use-cases/", {"city": "yanbu", "page": 2}))

    newest_first = [use_case.pk for use_case in reversed(rows)]
    assert card_ids(first) == newest_first[:12]
    assert card_ids(second) == newest_first[12:]
    assertInHTML(
        '<a class="button button--secondary" rel="next" href="?city=yanbu&amp;page=2">Next</a>',
        first,
    )
    assert "Page 2 of 2" in second


def test_library_makes_the_same_queries_for_few_and_many_rows(
    client: Client, colleague: User, omar: User
) -> None:
    def library_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/use-cases/", {"sort": "most_liked"})
        assert response.status_code == 200
        return len(queries)

    signed_in(client, colleague)
    for _ in range(2):
        ready_media(UseCaseFactory(author=omar, city="riyadh"))
    few = library_queries()
    for index in range(10):
        use_case = UseCaseFactory(author=omar, city="jeddah" if index % 2 else "tabuk")
        ready_media(use_case)
        add_metrics(use_case, [("Energy", "10", "8", False)])
    many = library_queries()

    assert few == many
    # Session and user, the count and the page, the cover images, seven facets.
    assert many == 12


def test_library_map_places_a_marker_per_city_sized_by_count(
    client: Client, colleague: User, omar: User
) -> None:
    for _ in range(4):
        UseCaseFactory(author=omar, city="riyadh")
    UseCaseFactory(author=omar, city="jeddah")
    UseCaseFactory(author=omar, city="")

    html = html_of(
        signed_in(client, colleague).get("/use-cases/", {"city": "jeddah", "sort": "most_liked"})
    )

    markers = re.findall(
        r'<a class="use-case-map__marker( is-selected)?" href="([^"]+)">\s*<title>([^<]+)</title>'
        r'\s*<circle cx="([\d.]+)" cy="([\d.]+)" r="([\d.]+)"/>',
        html,
    )
    assert [(selected, unescape(href), title) for selected, href, title, *_ in markers] == [
        ("", "/use-cases/?city=riyadh&sort=most_liked", "Riyadh: 4 use cases"),
        (" is-selected", "/use-cases/?city=jeddah&sort=most_liked", "Jeddah: 1 use case"),
    ]
    riyadh, jeddah = markers
    # The area grows with the count: a quarter of the use cases, half the extra radius.
    half = SaudiMap.MIN_RADIUS + (SaudiMap.MAX_RADIUS - SaudiMap.MIN_RADIUS) / 2
    assert (float(riyadh[5]), float(jeddah[5])) == (SaudiMap.MAX_RADIUS, half)
    # Riyadh lies east of Jeddah and north of it.
    assert float(riyadh[3]) > float(jeddah[3])
    assert float(riyadh[4]) < float(jeddah[4])
    assert '<polygon class="use-case-map__land" points="' in html


def test_saudi_map_keeps_every_city_inside_the_drawing() -> None:
    width, height = SaudiMap.size()
    for city in selectors.CITIES_BY_KEY.values():
        x, y = SaudiMap.project(city.longitude, city.latitude)
        assert 0 < x < width
        assert 0 < y < height


def test_library_without_use_cases_says_so(client: Client, colleague: User) -> None:
    html = html_of(signed_in(client, colleague).get("/use-cases/"))

    assert "No use cases yet. Share the first one!" in html
    assert "No use case to place on the map yet." in html


# A use case


def test_detail_shows_every_section(
    client: Client, colleague: User, published: UseCase, omar: User
) -> None:
    response = signed_in(client, colleague).get(published.get_absolute_url())

    assert response.status_code == 200
    assertTemplateUsed(response, "usecases/use_case_detail.html")
    html = html_of(response)
    assertInHTML(
        '<h1 class="page__title use-case__title" id="use-case-title">'
        "Vision inspection of valve castings</h1>",
        html,
    )
    for title, body in [
        ("The problem", "<p>Porosity <strong>defects</strong> reached customers.</p>"),
        ("The technology", "<p>A camera line with a trained model.</p>"),
        ("The outcomes", "<p>Escapes fell to nearly zero.</p>"),
        ("The challenges", "<p>Lighting the parts evenly.</p>"),
    ]:
        assert f">{title}</h2>" in html
        assertInHTML(f'<div class="use-case__prose">{body}</div>', html)
    for term, value in [
        ("Factory or site", "Foundry 1"),
        ("City", '<a href="/use-cases/?city=jubail">Jubail</a>'),
        ("Budget", "250k to 1M · <bdi>480,000 SAR</bdi>"),
        (
            "Vendor",
            '<a href="https://optic.example/" rel="nofollow noopener noreferrer"'
            ' target="_blank">Optic Systems</a>',
        ),
        ("Implementation", "7 months"),
        ("Return on investment", "<bdi>135.5%</bdi>"),
        ("Payback", "14 months"),
        ("Contact", 'Sara Haddad<br><span class="muted">Quality Manager</span>'),
        ("Industry", "valves"),
        ("Technology", "machine vision, ai"),
        ("Visibility", "Every member of the platform"),
    ]:
        assertInHTML(f"<div><dt>{term}</dt><dd>{value}</dd></div>", html)
    assertInHTML(
        '<a class="tag tag--industry" href="/use-cases/?industry_tag=valves">valves</a>', html
    )
    assertInHTML(
        '<input class="share__input" type="url" id="share-url"'
        ' value="http://testserver/use-cases/jubail-valves/vision-inspection/" readonly dir="ltr">',
        html,
    )
    assert '<span class="use-case__author">by Sara Haddad</span>' in html


def test_detail_shows_the_metrics_as_a_table_and_a_chart(
    client: Client, colleague: User, published: UseCase
) -> None:
    html = html_of(signed_in(client, colleague).get(published.get_absolute_url()))

    assertInHTML(
        '<tr><th scope="row">Defect escapes</th><td><bdi>120</bdi> %</td><td><bdi>6</bdi> %</td>'
        '<td class="metrics-table__change is-better"><bdi>+95%</bdi></td><td>6 months</td></tr>',
        html,
    )
    assertInHTML(
        '<tr><th scope="row">Throughput</th><td><bdi>400</bdi> %</td><td><bdi>460</bdi> %</td>'
        '<td class="metrics-table__change is-better"><bdi>+15%</bdi></td><td>6 months</td></tr>',
        html,
    )
    bars = re.findall(
        r'<rect class="metric-chart__(baseline|result)" x="([\d.]+)" y="([\d.]+)"'
        r' width="([\d.]+)"',
        html,
    )
    room = MetricChart.WIDTH - MetricChart.VALUE_SPACE
    assert [(kind, float(x), float(width)) for kind, x, _y, width in bars] == [
        ("baseline", 0.0, room),
        ("result", 0.0, round(room * 6 / 120, 1)),
        ("baseline", 0.0, round(room * 400 / 460, 1)),
        ("result", 0.0, room),
    ]
    assert 'direction="ltr" role="img" aria-labelledby="metric-chart-caption"' in html


def test_detail_chart_runs_right_to_left_in_arabic(
    client: Client, colleague: User, published: UseCase
) -> None:
    response = signed_in(client, colleague).get(
        published.get_absolute_url(), headers={"accept-language": "ar"}
    )

    html = html_of(response)
    assert '<html lang="ar" dir="rtl">' in html
    bars = re.findall(
        r'<rect class="metric-chart__result" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', html
    )
    # Each bar ends at the right edge; numbers keep their dot in the SVG.
    assert [round(float(x) + float(width), 1) for x, width in bars] == [MetricChart.WIDTH] * 2
    assert 'direction="rtl"' in html


def test_detail_counts_a_members_first_view_only(
    client: Client, colleague: User, sara: User, published: UseCase
) -> None:
    signed_in(client, colleague)

    first = html_of(client.get(published.get_absolute_url()))
    client.get(published.get_absolute_url())
    signed_in(Client(), sara).get(published.get_absolute_url())

    published.refresh_from_db()
    assert published.view_count == 1
    assert list(UseCaseView.objects.values_list("user_id", flat=True)) == [colleague.pk]
    assertInHTML("<div><dt>Views</dt><dd>1</dd></div>", first)


def test_detail_of_an_organization_use_case_is_404_for_other_organizations(
    client: Client, omar: User, colleague: User, organization_only: UseCase
) -> None:
    hidden = signed_in(client, omar).get(organization_only.get_absolute_url())
    shown = signed_in(Client(), colleague).get(organization_only.get_absolute_url())

    assert hidden.status_code == 404
    assert shown.status_code == 200
    assert not UseCaseView.objects.filter(user=omar).exists()


def test_detail_of_a_draft_is_for_its_editors_and_staff_only(
    client: Client,
    sara: User,
    colleague: User,
    omar: User,
    reviewer: User,
    user_factory: Any,
) -> None:
    draft = UseCaseFactory(author=sara, draft=True, title="Half-written retrofit story")
    admin = user_factory(organization=sara.organization, admin=True)

    people = {"author": sara, "admin": admin, "staff": reviewer, "colleague": colleague}
    statuses = {
        role: signed_in(Client(), person).get(draft.get_absolute_url()).status_code
        for role, person in {**people, "outsider": omar}.items()
    }

    assert statuses == {
        "author": 200,
        "admin": 200,
        "staff": 200,
        "colleague": 404,
        "outsider": 404,
    }
    html = html_of(signed_in(client, sara).get(draft.get_absolute_url()))
    assertInHTML(
        '<span class="badge badge--status badge--draft" id="use-case-status">Draft</span>', html
    )
    assert "This draft is visible only to you" in html
    # Not published: no like, bookmark or share.
    assert "/like/" not in html
    assert 'id="share-url"' not in html


def test_detail_shows_the_reviewers_note_to_the_author(client: Client, sara: User) -> None:
    rejected = UseCaseFactory(author=sara, rejected=True, review_note="Add the scrap numbers.")

    html = html_of(signed_in(client, sara).get(rejected.get_absolute_url()))

    assertInHTML(
        '<div class="notice notice--warning use-case__review-note">'
        '<p class="use-case__review-note-title">Note from the reviewer</p>'
        "<p>Add the scrap numbers.</p></div>",
        html,
    )
    assertInHTML(
        f'<a class="button button--danger button--small" href="/use-cases/{rejected.pk}/delete/">'
        "Delete</a>",
        html,
    )


def test_detail_edit_and_archive_are_for_editors_only(
    client: Client, sara: User, colleague: User, published: UseCase
) -> None:
    edit_url = reverse("usecases:edit", args=[published.pk, 1])

    as_author = html_of(signed_in(client, sara).get(published.get_absolute_url()))
    as_colleague = html_of(signed_in(Client(), colleague).get(published.get_absolute_url()))

    assert f'href="{edit_url}"' in as_author
    assert f'action="/use-cases/{published.pk}/archive/"' in as_author
    assert f'href="{edit_url}"' not in as_colleague
    assert "/archive/" not in as_colleague
    assert "/delete/" not in as_author


def test_detail_gallery_shows_ready_files_and_pending_ones_as_processing(
    client: Client, sara: User, colleague: User, published: UseCase
) -> None:
    image = ready_media(published, caption="Camera cell")
    document = ready_media(published, kind=Media.Kind.PDF, size_bytes=2 * 1024 * 1024)
    ready_media(published, original_name="still.png", status=Media.Status.PENDING)
    ready_media(published, original_name="broken.png", status=Media.Status.FAILED)

    html = html_of(signed_in(client, colleague).get(published.get_absolute_url()))
    as_author = html_of(signed_in(Client(), sara).get(published.get_absolute_url()))

    assertInHTML(
        f'<a href="/use-cases/media/{image.pk}/large/">'
        f'<img src="/use-cases/media/{image.pk}/small/"'
        ' alt="Camera cell" loading="lazy" width="1280" height="960"></a>',
        html,
    )
    assertInHTML(
        f'<a class="gallery__document" href="/use-cases/media/{document.pk}/original/">'
        '<span class="gallery__document-kind">PDF</span> <span class="gallery__name">'
        'datasheet.pdf</span> <span class="muted">2.0\xa0MB</span></a>',
        html,
    )
    assertInHTML(
        '<div class="gallery__placeholder" role="status"><span>Processing…</span>'
        '<span class="gallery__name">still.png</span></div>',
        html,
    )
    assert "broken.png" not in html
    assert "broken.png" in as_author


def test_detail_lists_related_use_cases(
    client: Client, colleague: User, omar: User, published: UseCase
) -> None:
    related = UseCaseFactory(author=omar, technology_tags=["machine vision"])
    UseCaseFactory(author=omar, category=Category.SUPPLY_CHAIN, technology_tags=["erp"])

    html = html_of(signed_in(client, colleague).get(published.get_absolute_url()))

    related_part = html[html.index('id="related-title"') :]
    assert card_ids(related_part) == [related.pk]


# Like, bookmark, archive


def test_like_posts_toggle_the_members_like(
    client: Client, colleague: User, published: UseCase
) -> None:
    signed_in(client, colleague)

    liked = client.post(f"/use-cases/{published.pk}/like/", {"liked": "true"})
    html = html_of(client.get(published.get_absolute_url()))
    again = client.post(f"/use-cases/{published.pk}/like/", {"liked": "true"})
    published.refresh_from_db()
    count_after_repeat = published.like_count
    client.post(f"/use-cases/{published.pk}/like/", {"liked": "false"})

    assertRedirects(liked, published.get_absolute_url(), fetch_redirect_response=False)
    assertRedirects(again, published.get_absolute_url(), fetch_redirect_response=False)
    assert count_after_repeat == 1
    assertInHTML(
        '<button class="like-button" type="submit" aria-pressed="true">'
        '<span class="like-button__label">Like</span> <span class="like-button__count">1</span>'
        "</button>",
        html,
    )
    assert '<input type="hidden" name="liked" value="false">' in html
    published.refresh_from_db()
    assert published.like_count == 0
    assert not UseCaseLike.objects.exists()


def test_like_without_a_value_toggles(client: Client, colleague: User, published: UseCase) -> None:
    signed_in(client, colleague)

    client.post(f"/use-cases/{published.pk}/like/")
    assert UseCaseLike.objects.filter(user=colleague, use_case=published).exists()
    client.post(f"/use-cases/{published.pk}/like/")
    assert not UseCaseLike.objects.exists()


def test_like_and_bookmark_of_a_hidden_use_case_are_404_and_write_nothing(
    client: Client, omar: User, organization_only: UseCase
) -> None:
    signed_in(client, omar)

    like = client.post(f"/use-cases/{organization_only.pk}/like/")
    bookmark = client.post(f"/use-cases/{organization_only.pk}/bookmark/")
    missing = client.post("/use-cases/999999/like/")

    assert (like.status_code, bookmark.status_code, missing.status_code) == (404, 404, 404)
    assert not UseCaseLike.objects.exists()
    assert not UseCaseBookmark.objects.exists()
    organization_only.refresh_from_db()
    assert (organization_only.like_count, organization_only.bookmark_count) == (0, 0)


def test_like_of_an_unpublished_use_case_is_refused_with_a_message(
    client: Client, sara: User
) -> None:
    draft = UseCaseFactory(author=sara, draft=True)

    response = signed_in(client, sara).post(f"/use-cases/{draft.pk}/like/")

    assertRedirects(response, "/use-cases/", fetch_redirect_response=False)
    assert flashed(response) == ["This use case is not published."]
    assert not UseCaseLike.objects.exists()


def test_like_answers_405_to_get(client: Client, colleague: User, published: UseCase) -> None:
    response = signed_in(client, colleague).get(f"/use-cases/{published.pk}/like/")

    assert response.status_code == 405
    assert not UseCaseLike.objects.exists()


def test_bookmark_keeps_the_use_case_on_the_bookmarks_page(
    client: Client, colleague: User, published: UseCase, omar: User
) -> None:
    UseCaseFactory(author=omar)
    signed_in(client, colleague)

    added = client.post(f"/use-cases/{published.pk}/bookmark/", {"bookmarked": "true"})
    page = client.get("/use-cases/bookmarks/")
    removed = client.post(
        f"/use-cases/{published.pk}/bookmark/",
        {"bookmarked": "false", "next": "/use-cases/bookmarks/"},
    )
    empty = html_of(client.get("/use-cases/bookmarks/"))

    assert flashed(added) == ["The use case is in your bookmarks."]
    assertTemplateUsed(page, "usecases/bookmarks.html")
    assert card_ids(html_of(page)) == [published.pk]
    assertRedirects(removed, "/use-cases/bookmarks/", fetch_redirect_response=False)
    assert card_ids(empty) == []
    assert "No bookmarks yet." in empty
    published.refresh_from_db()
    assert published.bookmark_count == 0


def test_bookmark_ignores_a_next_url_of_another_site(
    client: Client, colleague: User, published: UseCase
) -> None:
    response = signed_in(client, colleague).post(
        f"/use-cases/{published.pk}/bookmark/", {"next": "https://evil.example/"}
    )

    assertRedirects(response, published.get_absolute_url(), fetch_redirect_response=False)


def test_archive_by_the_author_takes_the_use_case_out_of_the_library(
    client: Client, sara: User, colleague: User, published: UseCase
) -> None:
    denied = signed_in(Client(), colleague).post(f"/use-cases/{published.pk}/archive/")
    published.refresh_from_db()
    status_after_denied = published.status

    response = signed_in(client, sara).post(f"/use-cases/{published.pk}/archive/")

    assert denied.status_code == 403
    assert status_after_denied == Status.PUBLISHED
    assertRedirects(response, published.get_absolute_url(), fetch_redirect_response=False)
    published.refresh_from_db()
    assert published.status == Status.ARCHIVED
    assert card_ids(html_of(client.get("/use-cases/"))) == []


# Ask the author


def test_ask_the_author_opens_a_conversation_with_a_suggested_message(
    client: Client, colleague: User, sara: User, published: UseCase
) -> None:
    signed_in(client, colleague)
    html = html_of(client.get(published.get_absolute_url()))
    form = re.search(
        r'<form method="post" action="(/messages/new/\d+/)">.*?'
        r'<input type="hidden" name="text" value="([^"]*)">',
        html,
    )
    assert form is not None
    action, text = form[1], unescape(form[2])

    response = client.post(action, {"text": text})
    conversation = client.get(response["Location"])

    assert action == f"/messages/new/{sara.pk}/"
    assert text == (
        "About your use case “Vision inspection of valve castings”: "
        "http://testserver/use-cases/jubail-valves/vision-inspection/"
    )
    assert parse_qs(urlparse(response["Location"]).query) == {"text": [text]}
    assert conversation.status_code == 200
    assert conversation.context["form"].initial["content"] == text
    textarea = re.search(
        r'<textarea name="content"[^>]*>(.*?)</textarea>', html_of(conversation), re.S
    )
    assert textarea is not None
    assert unescape(textarea[1]).strip() == text


def test_ask_the_author_is_not_offered_on_ones_own_use_case(
    client: Client, sara: User, published: UseCase
) -> None:
    html = html_of(signed_in(client, sara).get(published.get_absolute_url()))

    assert "/messages/new/" not in html
    assert "Ask the author" not in html


# Media


def test_media_streams_a_local_file_to_a_member_with_safe_headers(
    client: Client,
    sara: User,
    colleague: User,
    organization_only: UseCase,
    django_capture_on_commit_callbacks: Any,
) -> None:
    image, document = add(
        sara, organization_only, [png(), pdf()], django_capture_on_commit_callbacks
    )
    image.refresh_from_db()
    signed_in(client, colleague)

    small = client.get(f"/use-cases/media/{image.pk}/small/")
    original = client.get(f"/use-cases/media/{document.pk}/original/")

    assert small.status_code == 200
    assert small["Content-Type"] == "image/webp"
    assert small["X-Content-Type-Options"] == "nosniff"
    assert small["Cache-Control"].startswith("private")
    with image.thumbnail_small.open("rb") as stored:
        assert b"".join(small.streaming_content) == stored.read()
    assert original["Content-Type"] == "application/pdf"
    assert original["Content-Disposition"] == 'inline; filename="datasheet.pdf"'
    assert b"".join(original.streaming_content) == pdf().read()


def test_media_of_a_hidden_use_case_is_404_like_a_missing_one(
    client: Client,
    sara: User,
    omar: User,
    organization_only: UseCase,
    django_capture_on_commit_callbacks: Any,
) -> None:
    (document,) = add(sara, organization_only, [pdf()], django_capture_on_commit_callbacks)
    signed_in(client, omar)

    assert client.get(f"/use-cases/media/{document.pk}/original/").status_code == 404
    assert client.get("/use-cases/media/999999/original/").status_code == 404


def test_media_of_an_unknown_variant_is_404_and_a_pending_one_409(
    client: Client, sara: User, published: UseCase, django_capture_on_commit_callbacks: Any
) -> None:
    (document,) = add(sara, published, [pdf()], django_capture_on_commit_callbacks)
    pending = ready_media(published, status=Media.Status.PENDING)
    signed_in(client, sara)

    assert client.get(f"/use-cases/media/{document.pk}/small/").status_code == 404
    assert client.get(f"/use-cases/media/{document.pk}/huge/").status_code == 404
    waiting = client.get(f"/use-cases/media/{pending.pk}/original/")
    assert waiting.status_code == 409
    assertTemplateUsed(waiting, "usecases/media_processing.html")


def test_media_on_s3_redirects_to_a_signed_url(
    s3: Any,  # noqa: F811
    client: Client,
    sara: User,
    colleague: User,
    omar: User,
    organization_only: UseCase,
    django_capture_on_commit_callbacks: Any,
) -> None:
    (document,) = add(sara, organization_only, [pdf()], django_capture_on_commit_callbacks)

    response = signed_in(client, colleague).get(f"/use-cases/media/{document.pk}/original/")
    hidden = signed_in(Client(), omar).get(f"/use-cases/media/{document.pk}/original/")

    assert response.status_code == 302
    assert "X-Amz-Signature=" in response["Location"]
    assert response["Cache-Control"].startswith("private")
    fetched = httpx.get(response["Location"])
    assert fetched.status_code == 200
    assert fetched.content == pdf().read()
    assert hidden.status_code == 404


# My use cases


def test_my_use_cases_lists_every_state_and_drafts_apart(
    client: Client, sara: User, omar: User, published: UseCase
) -> None:
    draft = UseCaseFactory(author=sara, draft=True, title="Compressed air leak hunt")
    rejected = UseCaseFactory(author=sara, rejected=True, review_note="Add numbers, please.")
    UseCaseFactory(author=omar, draft=True)
    signed_in(client, sara)

    everything = client.get("/use-cases/mine/")
    drafts = html_of(client.get("/use-cases/mine/", {"tab": "drafts"}))

    assertTemplateUsed(everything, "usecases/my_use_cases.html")
    html = html_of(everything)
    listed = [int(i) for i in re.findall(r'class="my-use-case" data-use-case-id="(\d+)"', html)]
    assert sorted(listed) == sorted([draft.pk, rejected.pk, published.pk])
    assert f'data-use-case-id="{draft.pk}"' in drafts
    assert f'data-use-case-id="{published.pk}"' not in drafts
    assert "Add numbers, please." in html
    assert f'href="{reverse("usecases:edit", args=[draft.pk, draft.wizard_step])}"' in html
    assert f'href="/use-cases/{draft.pk}/delete/"' in html
    assert f'href="/use-cases/{published.pk}/delete/"' not in html


# Delete


def test_delete_asks_then_deletes_a_draft(client: Client, sara: User) -> None:
    draft = UseCaseFactory(author=sara, draft=True, title="Compressed air leak hunt")
    signed_in(client, sara)

    ask = client.get(f"/use-cases/{draft.pk}/delete/")
    unconfirmed = client.post(f"/use-cases/{draft.pk}/delete/")
    still_there = UseCase.objects.filter(pk=draft.pk).exists()
    deleted = client.post(f"/use-cases/{draft.pk}/delete/", {"confirmed": "yes"})

    assertTemplateUsed(ask, "usecases/use_case_delete.html")
    assert "Delete this use case?" in html_of(ask)
    assert unconfirmed.status_code == 200
    assert still_there
    assertRedirects(deleted, "/use-cases/mine/", fetch_redirect_response=False)
    assert flashed(deleted) == ["The use case is deleted."]
    assert not UseCase.objects.filter(pk=draft.pk).exists()


def test_delete_by_an_admin_of_the_authors_organization_is_allowed(
    client: Client, sara: User, user_factory: Any
) -> None:
    draft = UseCaseFactory(author=sara, draft=True)
    admin = user_factory(organization=sara.organization, admin=True)

    response = signed_in(client, admin).post(f"/use-cases/{draft.pk}/delete/", {"confirmed": "yes"})

    assertRedirects(response, "/use-cases/mine/", fetch_redirect_response=False)
    assert not UseCase.objects.filter(pk=draft.pk).exists()


def test_delete_by_others_is_refused_and_deletes_nothing(
    client: Client, sara: User, colleague: User, omar: User, published: UseCase
) -> None:
    draft = UseCaseFactory(author=sara, draft=True)

    outsider = signed_in(client, omar).post(f"/use-cases/{draft.pk}/delete/", {"confirmed": "yes"})
    member = signed_in(Client(), colleague).post(
        f"/use-cases/{published.pk}/delete/", {"confirmed": "yes"}
    )

    assert outsider.status_code == 404
    assert member.status_code == 403
    assert UseCase.objects.filter(pk__in=[draft.pk, published.pk]).count() == 2


def test_delete_of_a_published_use_case_points_to_archiving(
    client: Client, sara: User, published: UseCase
) -> None:
    signed_in(client, sara)

    ask = html_of(client.get(f"/use-cases/{published.pk}/delete/"))
    refused = client.post(f"/use-cases/{published.pk}/delete/", {"confirmed": "yes"})

    assert "This use case cannot be deleted" in ask
    assertRedirects(refused, "/use-cases/", fetch_redirect_response=False)
    assert flashed(refused) == ["Only a draft or a rejected use case can be deleted."]
    assert UseCase.objects.filter(pk=published.pk).exists()


# Review queue


def test_review_queue_is_for_staff_only(client: Client, sara: User) -> None:
    submitted = UseCaseFactory(author=sara, submitted=True)

    response = signed_in(client, sara).get("/use-cases/review/")
    publish = client.post(f"/use-cases/review/{submitted.pk}/publish/")
    reject = client.post(f"/use-cases/review/{submitted.pk}/reject/", {"note": "No."})

    assert (response.status_code, publish.status_code, reject.status_code) == (403, 403, 403)
    submitted.refresh_from_db()
    assert submitted.status == Status.SUBMITTED
    assert not Notification.objects.exists()


def test_review_queue_lists_submitted_use_cases_oldest_first(
    client: Client, reviewer: User, sara: User, omar: User
) -> None:
    first = UseCaseFactory(author=omar, submitted=True, title="Older submission here")
    second = UseCaseFactory(author=sara, submitted=True, title="Newer submission here")
    UseCase.objects.filter(pk=first.pk).update(submitted_at=second.submitted_at.replace(year=2020))
    UseCaseFactory(author=sara, draft=True)

    response = signed_in(client, reviewer).get("/use-cases/review/")

    assertTemplateUsed(response, "usecases/review_queue.html")
    html = html_of(response)
    listed = re.findall(r'class="panel review-item" data-use-case-id="(\d+)"', html)
    assert [int(i) for i in listed] == [first.pk, second.pk]
    assert f'action="/use-cases/review/{first.pk}/publish/"' in html
    assertInHTML(
        f'<textarea id="reject-note-{first.pk}" name="note" rows="2" maxlength="1000" required'
        f' aria-describedby="reject-help-{first.pk}"></textarea>',
        html,
    )


def test_publish_puts_the_use_case_in_the_library_and_tells_the_author(
    client: Client,
    reviewer: User,
    sara: User,
    colleague: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    submitted = UseCaseFactory(author=sara, submitted=True, title="Robot welding cell retrofit")

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(client, reviewer).post(f"/use-cases/review/{submitted.pk}/publish/")

    assertRedirects(response, "/use-cases/review/", fetch_redirect_response=False)
    assert flashed(response) == ["“Robot welding cell retrofit” is published."]
    submitted.refresh_from_db()
    assert (submitted.status, submitted.reviewed_by) == (Status.PUBLISHED, reviewer)
    notification = Notification.objects.get()
    assert (notification.recipient, notification.type, notification.link) == (
        sara,
        "use_case_published",
        submitted.get_absolute_url(),
    )
    assert submitted.pk in card_ids(html_of(signed_in(Client(), colleague).get("/use-cases/")))


def test_reject_needs_a_note(client: Client, reviewer: User, sara: User) -> None:
    submitted = UseCaseFactory(author=sara, submitted=True)

    response = signed_in(client, reviewer).post(
        f"/use-cases/review/{submitted.pk}/reject/", {"note": "   "}
    )

    assertRedirects(response, "/use-cases/review/", fetch_redirect_response=False)
    assert flashed(response) == ["Tell the author why: a note of 1 to 1000 characters is required."]
    submitted.refresh_from_db()
    assert (submitted.status, submitted.review_note) == (Status.SUBMITTED, "")
    assert not Notification.objects.exists()


def test_reject_sends_the_use_case_back_with_the_note(
    client: Client, reviewer: User, sara: User, django_capture_on_commit_callbacks: Any
) -> None:
    submitted = UseCaseFactory(author=sara, submitted=True, title="Robot welding cell retrofit")

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(client, reviewer).post(
            f"/use-cases/review/{submitted.pk}/reject/",
            {"note": "Give the scrap rate before and after.", "next": submitted.get_absolute_url()},
        )

    assertRedirects(response, submitted.get_absolute_url(), fetch_redirect_response=False)
    submitted.refresh_from_db()
    assert (submitted.status, submitted.review_note) == (
        Status.REJECTED,
        "Give the scrap rate before and after.",
    )
    notification = Notification.objects.get()
    assert (notification.recipient, notification.type) == (sara, "use_case_rejected")
    assert "Give the scrap rate before and after." in notification.text


def test_staff_review_a_submitted_use_case_from_its_page(
    client: Client, reviewer: User, sara: User
) -> None:
    submitted = UseCaseFactory(author=sara, submitted=True)

    as_staff = html_of(signed_in(client, reviewer).get(submitted.get_absolute_url()))
    as_author = html_of(signed_in(Client(), sara).get(submitted.get_absolute_url()))

    assert f'action="/use-cases/review/{submitted.pk}/publish/"' in as_staff
    assertInHTML(
        f'<input type="hidden" name="next" value="{submitted.get_absolute_url()}">', as_staff
    )
    assert "/review/" not in as_author
    assert "Submitted for review on" in as_author
