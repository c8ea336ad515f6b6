from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError

from usecases import selectors, services
from usecases.exceptions import NotReviewerError, UseCaseNotFoundError
from usecases.models import Media, UseCase
from usecases.schemas import FacetsOut, UseCaseListItemOut, UseCaseOut
from usecases.selectors import UseCaseFilters
from usecases.tests.factories import add_metrics

pytestmark = pytest.mark.services


def titles(use_cases: Any) -> list[str]:
    return [use_case.title for use_case in use_cases]


def counts(facet: list[dict[str, Any]]) -> dict[Any, int]:
    return {row["value"]: row["count"] for row in facet}


@pytest.fixture
def library(user_factory: Any, organization_factory: Any, use_case_factory: Any) -> Any:
    """Two organizations' use cases: published public ones, one organization-only one, and
    unpublished ones that the library never lists."""
    gulf = organization_factory(slug="gulf", name="Gulf Precision")
    najd = organization_factory(slug="najd", name="Najd Foods")
    gulf_author = user_factory(organization=gulf)
    najd_author = user_factory(organization=najd)
    now = timezone.now()

    def make(title: str, author: Any, minutes_ago: int, **fields: Any) -> UseCase:
        return use_case_factory(
            title=title, author=author, published_at=now - timedelta(minutes=minutes_ago), **fields
        )

    pumps = make(
        "Vibration sensors on cooling pumps",
        gulf_author,
        50,
        category="predictive_maintenance",
        city="jubail",
        budget_range="50k_250k",
        industry_tags=["metal fabrication"],
        technology_tags=["iot", "vibration analysis"],
        view_count=40,
        like_count=3,
        problem="The **pump** bearings failed without warning.",
    )
    vision = make(
        "Machine vision for bottle cap inspection",
        najd_author,
        40,
        category="quality_control",
        city="riyadh",
        budget_range="under_50k",
        industry_tags=["food and beverage"],
        technology_tags=["machine vision", "ai"],
        view_count=10,
        like_count=9,
        problem="Loose caps reached customers.",
    )
    energy = make(
        "Energy monitoring across the bakery ovens",
        najd_author,
        30,
        category="energy_efficiency",
        city="riyadh",
        budget_range="50k_250k",
        industry_tags=["food and beverage"],
        technology_tags=["iot", "energy metering"],
        view_count=25,
        like_count=1,
        problem="Gas bills rose every quarter.",
    )
    secret = make(
        "Confidential furnace optimisation with AI",
        gulf_author,
        20,
        category="process_optimization",
        city="jubail",
        budget_range="over_1m",
        industry_tags=["metal fabrication"],
        technology_tags=["ai", "iot"],
        visibility=UseCase.Visibility.ORGANIZATION,
        view_count=99,
        like_count=99,
        problem="Furnace temperature drifted.",
    )
    add_metrics(pumps, [("Unplanned stops", "8", "2", False)])  # 75 % better
    add_metrics(vision, [("Returns", "100", "40", False), ("Speed", "10", "12")])  # 60 %
    add_metrics(secret, [("Yield", "50", "100")])  # 100 %
    make("Draft about robots on the line", gulf_author, 5, draft=True)
    make("Submitted cobot welding cell", najd_author, 5, submitted=True)
    make("Archived solar carport story", najd_author, 5, archived=True)
    return {
        "gulf": gulf,
        "najd": najd,
        "gulf_author": gulf_author,
        "najd_author": najd_author,
        "gulf_colleague": user_factory(organization=gulf),
        "outsider": user_factory(),
        "pumps": pumps,
        "vision": vision,
        "energy": energy,
        "secret": secret,
    }


# Visibility


def test_list_use_cases_outsider_sees_only_published_public(library: Any) -> None:
    assert titles(selectors.list_use_cases(library["outsider"])) == [
        "Energy monitoring across the bakery ovens",
        "Machine vision for bottle cap inspection",
        "Vibration sensors on cooling pumps",
    ]


def test_list_use_cases_member_also_sees_their_organizations_private_ones(
    library: Any, staff: Any
) -> None:
    expected = [
        "Confidential furnace optimisation with AI",
        "Energy monitoring across the bakery ovens",
        "Machine vision for bottle cap inspection",
        "Vibration sensors on cooling pumps",
    ]
    assert titles(selectors.list_use_cases(library["gulf_colleague"])) == expected
    assert titles(selectors.list_use_cases(staff)) == expected
    assert titles(selectors.list_use_cases(library["najd_author"])) == expected[1:]


def test_list_use_cases_anonymous_or_inactive_sees_nothing(library: Any, user_factory: Any) -> None:
    assert list(selectors.list_use_cases(AnonymousUser())) == []
    assert list(selectors.list_use_cases(user_factory(is_active=False))) == []


def test_get_facets_never_count_another_organizations_private_use_case(library: Any) -> None:
    outsider = selectors.get_facets(library["outsider"])
    colleague = selectors.get_facets(library["gulf_colleague"])

    assert counts(outsider["category"]) == {
        "predictive_maintenance": 1,
        "quality_control": 1,
        "energy_efficiency": 1,
    }
    assert "process_optimization" in counts(colleague["category"])
    assert counts(outsider["budget_range"]) == {"50k_250k": 2, "under_50k": 1}
    assert counts(outsider["technology_tag"])["ai"] == 1
    assert counts(colleague["technology_tag"])["ai"] == 2
    assert counts(outsider["organization"]) == {"najd": 2, "gulf": 1}
    assert counts(outsider["has_metrics"]) == {True: 2, False: 1}


def test_get_use_case_organization_only_is_not_found_for_outsiders(library: Any) -> None:
    secret = library["secret"]

    with pytest.raises(UseCaseNotFoundError):
        selectors.get_use_case(library["najd_author"], "gulf", secret.slug)
    with pytest.raises(UseCaseNotFoundError):
        selectors.get_use_case_by_id(library["outsider"], secret.pk)
    with pytest.raises(UseCaseNotFoundError):
        selectors.get_use_case(AnonymousUser(), "gulf", library["pumps"].slug)

    assert selectors.get_use_case(library["gulf_colleague"], "gulf", secret.slug) == secret


def test_get_use_case_draft_only_for_its_editors(
    library: Any, use_case_factory: Any, user_factory: Any, staff: Any
) -> None:
    draft = use_case_factory(author=library["gulf_author"], draft=True)
    gulf_admin = user_factory(organization=library["gulf"], admin=True)

    for viewer in (library["gulf_author"], gulf_admin, staff):
        assert selectors.get_use_case_by_id(viewer, draft.pk) == draft
    for viewer in (library["gulf_colleague"], library["outsider"]):
        with pytest.raises(UseCaseNotFoundError):
            selectors.get_use_case_by_id(viewer, draft.pk)


def test_get_use_case_wrong_organization_slug_is_not_found(library: Any) -> None:
    with pytest.raises(UseCaseNotFoundError):
        selectors.get_use_case(library["outsider"], "najd", library["pumps"].slug)


def test_list_related_shares_category_or_tags_never_private_of_others(
    library: Any, use_case_factory: Any
) -> None:
    energy = library["energy"]

    outsider = selectors.list_related(energy, library["outsider"])
    colleague = selectors.list_related(energy, library["gulf_colleague"])

    # One shared tag each (pumps "iot", vision the industry, secret "iot" but private to
    # gulf), so the newest first.
    assert titles(outsider) == [
        "Machine vision for bottle cap inspection",
        "Vibration sensors on cooling pumps",
    ]
    assert titles(colleague) == [
        "Confidential furnace optimisation with AI",
        "Machine vision for bottle cap inspection",
        "Vibration sensors on cooling pumps",
    ]


def test_list_related_prefers_more_shared_tags_and_stops_at_four(
    library: Any, use_case_factory: Any
) -> None:
    pumps = library["pumps"]
    for n in range(5):
        use_case_factory(
            title=f"Another maintenance story number {n}",
            category="predictive_maintenance",
            industry_tags=[],
            technology_tags=[],
        )
    twin = use_case_factory(
        title="Vibration sensors on fans",
        category="supply_chain",
        industry_tags=["metal fabrication"],
        technology_tags=["iot", "vibration analysis"],
    )

    related = selectors.list_related(pumps, library["outsider"])

    assert len(related) == 4
    assert related[0] == twin
    assert pumps not in related


# Search, filters, sorts


def test_list_use_cases_search_matches_word_forms_in_any_answer(library: Any) -> None:
    outsider = library["outsider"]

    assert titles(selectors.list_use_cases(outsider, search="pumps")) == [
        "Vibration sensors on cooling pumps"
    ]
    assert titles(selectors.list_use_cases(outsider, search="bearing")) == [
        "Vibration sensors on cooling pumps"
    ]
    assert titles(selectors.list_use_cases(outsider, search="riyadh iot")) == [
        "Energy monitoring across the bakery ovens"
    ]
    assert titles(selectors.list_use_cases(outsider, search="furnace")) == []
    assert titles(selectors.list_use_cases(library["gulf_colleague"], search="furnace")) == [
        "Confidential furnace optimisation with AI"
    ]
    assert titles(selectors.list_use_cases(outsider, search='"cooling pumps" -bakery')) == [
        "Vibration sensors on cooling pumps"
    ]


def test_list_use_cases_search_ranks_by_relevance_before_date(
    library: Any, use_case_factory: Any
) -> None:
    use_case_factory(
        title="Energy energy energy dashboards",
        problem="energy",
        technology="energy",
        published_at=timezone.now() - timedelta(days=30),
    )

    assert titles(selectors.list_use_cases(library["outsider"], search="energy")) == [
        "Energy energy energy dashboards",
        "Energy monitoring across the bakery ovens",
    ]


def test_apply_search_uses_the_search_vector_index(library: Any) -> None:
    """The planner may prefer another index on a few rows; with the others off it must be able
    to use the search index, which proves the query reads the indexed column."""
    query = selectors.apply_search(UseCase.objects.all(), "pump")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        plan = query.explain()

    assert "usecases_search_vector_idx" in plan


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"category": "quality_control"}, ["Machine vision for bottle cap inspection"]),
        (
            {"industry_tag": "  Food and Beverage "},
            [
                "Energy monitoring across the bakery ovens",
                "Machine vision for bottle cap inspection",
            ],
        ),
        (
            {"technology_tag": "iot"},
            [
                "Confidential furnace optimisation with AI",
                "Energy monitoring across the bakery ovens",
                "Vibration sensors on cooling pumps",
            ],
        ),
        (
            {"city": "jubail"},
            ["Confidential furnace optimisation with AI", "Vibration sensors on cooling pumps"],
        ),
        (
            {"budget_range": "50k_250k"},
            ["Energy monitoring across the bakery ovens", "Vibration sensors on cooling pumps"],
        ),
        (
            {"has_metrics": True},
            [
                "Confidential furnace optimisation with AI",
                "Machine vision for bottle cap inspection",
                "Vibration sensors on cooling pumps",
            ],
        ),
        ({"has_metrics": False}, ["Energy monitoring across the bakery ovens"]),
        (
            {"organization": "gulf"},
            ["Confidential furnace optimisation with AI", "Vibration sensors on cooling pumps"],
        ),
        (
            {"organization": "najd", "technology_tag": "iot", "city": "riyadh"},
            ["Energy monitoring across the bakery ovens"],
        ),
        ({"category": "no_such_category"}, []),
    ],
)
def test_list_use_cases_filters(library: Any, filters: dict[str, Any], expected: list) -> None:
    assert titles(selectors.list_use_cases(library["gulf_colleague"], **filters)) == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("newest", ["secret", "energy", "vision", "pumps"]),
        ("most_viewed", ["secret", "pumps", "energy", "vision"]),
        ("most_liked", ["secret", "vision", "pumps", "energy"]),
        ("biggest_improvement", ["secret", "pumps", "vision", "energy"]),
    ],
)
def test_list_use_cases_sorts(library: Any, sort: str, expected: list[str]) -> None:
    result = list(selectors.list_use_cases(library["gulf_colleague"], sort=sort))

    assert result == [library[key] for key in expected]


def test_list_use_cases_unknown_sort_is_a_validation_error(library: Any) -> None:
    with pytest.raises(ValidationError):
        selectors.list_use_cases(library["outsider"], sort="cheapest")


def test_get_facets_count_each_facet_under_the_other_filters(library: Any) -> None:
    filters = UseCaseFilters(category="energy_efficiency", city="riyadh")

    facets = selectors.get_facets(library["outsider"], filters)

    # category ignores its own filter (the other categories stay choosable) but keeps the city;
    assert counts(facets["category"]) == {"quality_control": 1, "energy_efficiency": 1}
    # city ignores the city filter but keeps the category.
    assert counts(facets["city"]) == {"riyadh": 1}
    assert counts(facets["technology_tag"]) == {"iot": 1, "energy metering": 1}
    assert counts(facets["organization"]) == {"najd": 1}
    assert counts(facets["has_metrics"]) == {True: 0, False: 1}
    assert facets["city"][0]["label"] == "Riyadh"
    assert facets["category"][0]["label"] in {"Quality Control", "Energy Efficiency"}
    FacetsOut.model_validate(facets)


def test_get_facets_with_search(library: Any) -> None:
    facets = selectors.get_facets(library["outsider"], UseCaseFilters(search="iot"))

    assert counts(facets["category"]) == {"predictive_maintenance": 1, "energy_efficiency": 1}
    assert counts(facets["industry_tag"]) == {"metal fabrication": 1, "food and beverage": 1}


# My use cases, drafts, bookmarks, review queue


def test_list_my_use_cases_and_drafts(library: Any, use_case_factory: Any) -> None:
    author = library["gulf_author"]

    assert set(titles(selectors.list_my_use_cases(author))) == {
        "Vibration sensors on cooling pumps",
        "Confidential furnace optimisation with AI",
        "Draft about robots on the line",
    }
    assert titles(selectors.list_drafts(author)) == ["Draft about robots on the line"]
    assert list(selectors.list_drafts(library["gulf_colleague"])) == []


def test_list_bookmarks_newest_first_and_only_still_visible(library: Any) -> None:
    reader = library["gulf_colleague"]
    for key in ("vision", "secret", "pumps"):
        services.toggle_bookmark(actor=reader, use_case_id=library[key].pk)
    services.archive_use_case(actor=library["najd_author"], use_case_id=library["vision"].pk)

    bookmarks = list(selectors.list_bookmarks(reader))

    assert bookmarks == [library["pumps"], library["secret"]]
    assert all(use_case.is_bookmarked for use_case in bookmarks)


def test_list_review_queue_for_staff_only(library: Any, staff: Any) -> None:
    assert titles(selectors.list_review_queue(staff)) == ["Submitted cobot welding cell"]
    with pytest.raises(NotReviewerError):
        selectors.list_review_queue(library["gulf_author"])


# Queries


def test_list_use_cases_page_with_user_state_is_one_query(
    library: Any, use_case_factory: Any, django_assert_num_queries: Any
) -> None:
    reader = library["gulf_colleague"]
    for n in range(15):
        use_case_factory(title=f"Another library entry number {n}")
    services.toggle_like(actor=reader, use_case_id=library["vision"].pk)

    with django_assert_num_queries(1):
        page = list(selectors.list_use_cases(reader, technology_tag="iot", sort="most_liked"))
        items = [UseCaseListItemOut.from_orm(use_case).dict() for use_case in page]

    assert len(items) == 18
    with django_assert_num_queries(1):
        liked = {item.title for item in selectors.list_use_cases(reader) if item.is_liked}
    assert liked == {"Machine vision for bottle cap inspection"}


def test_get_facets_is_seven_aggregate_queries(
    library: Any, use_case_factory: Any, django_assert_num_queries: Any
) -> None:
    for n in range(20):
        use_case_factory(title=f"Another library entry number {n}", city="tabuk")

    with django_assert_num_queries(7):
        facets = selectors.get_facets(
            library["outsider"], UseCaseFilters(search="vibration", technology_tag="iot")
        )

    assert counts(facets["city"]) == {"tabuk": 20, "jubail": 1, "riyadh": 1}


@pytest.fixture
def facets_cached(settings: Any) -> Any:
    settings.USECASES_FACETS_CACHE_SECONDS = 60
    keys: list[str] = []
    yield keys
    cache.delete_many(keys)


def test_get_facets_are_counted_once_per_organization_and_filters(
    library: Any,
    facets_cached: list[str],
    use_case_factory: Any,
    django_assert_num_queries: Any,
) -> None:
    author, colleague = library["gulf_author"], library["gulf_colleague"]
    outsider = library["outsider"]
    facets_cached += [
        selectors.facets_cache_key(user, UseCaseFilters()) for user in (author, outsider)
    ]
    facets_cached.append(selectors.facets_cache_key(author, UseCaseFilters(city="jubail")))

    with django_assert_num_queries(7):
        counted = selectors.get_facets(author)
    use_case_factory(title="Published after the counts were kept", city="tabuk")
    with django_assert_num_queries(0):
        kept_for_colleague = selectors.get_facets(colleague)
    with django_assert_num_queries(7):
        other_organization = selectors.get_facets(outsider)
    with django_assert_num_queries(7):
        other_filters = selectors.get_facets(author, UseCaseFilters(city="jubail"))

    assert kept_for_colleague == counted
    assert "tabuk" not in counts(counted["city"])
    assert counts(other_organization["city"])["tabuk"] == 1
    # Other filters are counted afresh, so they see the new use case.
    assert counts(other_filters["city"])["tabuk"] == 1


def test_get_facets_count_without_a_cache_that_is_down(
    library: Any, facets_cached: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*args: Any, **kwargs: Any) -> None:
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(selectors.cache, "get", unreachable)
    monkeypatch.setattr(selectors.cache, "set", unreachable)

    facets = selectors.get_facets(library["outsider"])

    assert facets == selectors.count_facets(library["outsider"], UseCaseFilters())
    assert sum(counts(facets["category"]).values()) > 0


def test_get_use_case_with_metrics_and_media_is_three_queries(
    library: Any, django_assert_num_queries: Any
) -> None:
    vision = library["vision"]
    Media.objects.create(
        use_case=vision,
        kind=Media.Kind.IMAGE,
        content_type="image/png",
        original_name="line.png",
        size_bytes=10,
        file="use-cases/1/a.png",
        thumbnail_small="use-cases/1/a-320.webp",
        status=Media.Status.READY,
    )

    with django_assert_num_queries(3):
        use_case = selectors.get_use_case(library["outsider"], "najd", vision.slug)
        detail = UseCaseOut.from_orm(use_case).dict()

    assert [(m["metric"], m["improvement"]) for m in detail["metrics"]] == [
        ("Returns", Decimal("60.00")),
        ("Speed", Decimal("20.00")),
    ]
    media = detail["media"][0]
    assert (media["url"], media["small_url"], media["large_url"]) == (
        f"/use-cases/media/{media['id']}/original/",
        f"/use-cases/media/{media['id']}/small/",
        None,
    )
    assert detail["url"] == f"/use-cases/najd/{vision.slug}/"
    assert detail["city_name"] == "Riyadh"
    assert detail["summary"] == "Loose caps reached customers."


@pytest.mark.parametrize(
    ("selector", "queries"),
    [
        (lambda people: selectors.list_bookmarks(people["gulf_colleague"]), 1),
        (lambda people: selectors.list_my_use_cases(people["gulf_author"]), 1),
        (lambda people: selectors.list_related(people["energy"], people["outsider"]), 2),
    ],
)
def test_list_selectors_do_not_query_per_row(
    library: Any, django_assert_num_queries: Any, selector: Any, queries: int
) -> None:
    for key in ("vision", "pumps", "energy"):
        services.toggle_bookmark(actor=library["gulf_colleague"], use_case_id=library[key].pk)

    with django_assert_num_queries(queries):
        rows = [UseCaseListItemOut.from_orm(row).dict() for row in selector(library)]

    assert rows


def test_media_url_only_for_ready_variants() -> None:
    pending = Media(pk=7, status=Media.Status.PENDING, file="a.png")
    ready = Media(pk=8, status=Media.Status.READY, file="b.pdf")

    assert selectors.media_url(pending, "original") is None
    assert selectors.media_url(ready, "original") == "/use-cases/media/8/original/"
    assert selectors.media_url(ready, "small") is None
    with pytest.raises(ValueError, match="variant"):
        selectors.media_url(ready, "huge")
