import re
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from usecases.models import Media, OutcomeMetric, UseCase, improvement_expression, media_upload_to
from usecases.tests.factories import add_metrics

pytestmark = pytest.mark.services


@pytest.mark.parametrize(
    ("baseline", "result", "higher_is_better", "improvement"),
    [
        ("90", "99", True, Decimal("10.00")),
        ("200", "150", False, Decimal("25.00")),
        ("200", "250", False, Decimal("-25.00")),
        ("10", "5", True, Decimal("-50.00")),
        ("-20", "-10", True, Decimal("50.00")),
        ("3", "4", True, Decimal("33.33")),
        ("0", "5", True, None),
    ],
)
def test_outcome_metric_improvement_property_and_sql_agree(
    use_case_factory: Any,
    baseline: str,
    result: str,
    higher_is_better: bool,
    improvement: Decimal | None,
) -> None:
    use_case = use_case_factory()
    (metric,) = add_metrics(use_case, [("Metric", baseline, result, higher_is_better)])

    annotated = (
        OutcomeMetric.objects.annotate(computed=improvement_expression())
        .values_list("computed", flat=True)
        .get(pk=metric.pk)
    )

    assert metric.improvement == improvement
    if improvement is None:
        assert annotated is None
    else:
        assert annotated.quantize(Decimal("0.01")) == improvement
    use_case.refresh_from_db()
    assert use_case.best_improvement == improvement


def test_use_case_best_improvement_is_the_largest_of_its_metrics(use_case_factory: Any) -> None:
    use_case = use_case_factory()
    add_metrics(use_case, [("A", "100", "80", False), ("B", "10", "11"), ("C", "0", "9")])

    use_case.refresh_from_db()
    assert (use_case.metric_count, use_case.best_improvement) == (3, Decimal("20.00"))


def test_use_case_get_absolute_url(use_case_factory: Any, organization_factory: Any) -> None:
    use_case = use_case_factory(slug="kiln-twin")

    assert use_case.get_absolute_url() == f"/use-cases/{use_case.organization.slug}/kiln-twin/"


def test_use_case_slug_is_unique_within_an_organization_only(use_case_factory: Any) -> None:
    first = use_case_factory(slug="same")
    use_case_factory(slug="same")  # another organization

    with pytest.raises(IntegrityError), transaction.atomic():
        use_case_factory(slug="same", author=first.author)


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [(Decimal("24.1"), None), (None, Decimal("46.2")), (Decimal("91"), Decimal("46"))],
)
def test_use_case_coordinates_come_in_valid_pairs(
    use_case_factory: Any, latitude: Decimal | None, longitude: Decimal | None
) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        use_case_factory(city="", latitude=latitude, longitude=longitude)

    assert UseCase.objects.count() == 0


def test_media_upload_to_keeps_only_a_safe_extension(use_case_factory: Any) -> None:
    media = Media(use_case=use_case_factory())
    prefix = f"use-cases/{media.use_case_id}/"

    names = [
        media_upload_to(media, "Line photo.JPG"),
        media_upload_to(media, "../../etc/passwd"),
        media_upload_to(media, "report.p;df"),
    ]

    assert all(name.startswith(prefix) for name in names)
    assert [re.fullmatch(r"[0-9a-f]{32}\.(\w+)", n.removeprefix(prefix))[1] for n in names] == [
        "jpg",
        "bin",
        "bin",
    ]
    assert len(set(names)) == 3
