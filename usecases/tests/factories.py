from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import factory
from django.utils import timezone

from accounts.tests.factories import UserFactory
from p2p_sandbox.markdown import render_markdown
from usecases import services
from usecases.constants import CITIES_BY_KEY, BudgetRange, Category
from usecases.models import OutcomeMetric, UseCase


class UseCaseFactory(factory.django.DjangoModelFactory):
    """A complete, published, public use case by default; the rows derived on write (HTML,
    search text, tag rows) are filled as the services would."""

    class Meta:
        model = UseCase
        skip_postgeneration_save = True

    author = factory.SubFactory(UserFactory)
    organization = factory.LazyAttribute(lambda o: o.author.organization)
    title = factory.Sequence(lambda n: f"Vibration monitoring on press line {n}")
    slug = factory.Sequence(lambda n: f"use-case-{n}")
    category = Category.PREDICTIVE_MAINTENANCE
    problem = "Unplanned **downtime** on the press line cost us two shifts a month."
    technology = "Wireless vibration sensors on each spindle, with an edge gateway."
    budget_range = BudgetRange.FROM_50K_TO_250K
    outcomes = "Unplanned stops fell from eight to two a month."
    challenges = "Tuning the alarm thresholds took six weeks."
    site_name = "Plant 2"
    city = "jubail"
    latitude = factory.LazyAttribute(
        lambda o: Decimal(str(CITIES_BY_KEY[o.city].latitude)) if o.city else None
    )
    longitude = factory.LazyAttribute(
        lambda o: Decimal(str(CITIES_BY_KEY[o.city].longitude)) if o.city else None
    )
    industry_tags = factory.LazyFunction(lambda: ["metal fabrication"])
    technology_tags = factory.LazyFunction(lambda: ["iot", "vibration analysis"])
    contact_name = "Omar Haddad"
    contact_title = "Maintenance Engineer"
    status = UseCase.Status.PUBLISHED
    visibility = UseCase.Visibility.PUBLIC
    submitted_at = factory.LazyFunction(timezone.now)
    published_at = factory.LazyFunction(timezone.now)

    class Params:
        draft = factory.Trait(status=UseCase.Status.DRAFT, submitted_at=None, published_at=None)
        submitted = factory.Trait(status=UseCase.Status.SUBMITTED, published_at=None)
        rejected = factory.Trait(
            status=UseCase.Status.REJECTED, published_at=None, review_note="Add numbers."
        )
        archived = factory.Trait(status=UseCase.Status.ARCHIVED)
        organization_only = factory.Trait(visibility=UseCase.Visibility.ORGANIZATION)

    @classmethod
    def _create(cls, model_class: type[UseCase], *args: Any, **kwargs: Any) -> UseCase:
        use_case = model_class(*args, **kwargs)
        for name in services.MARKDOWN_FIELDS:
            text = getattr(use_case, name)
            setattr(use_case, f"{name}_html", render_markdown(text) if text else "")
        use_case.search_document = services.build_search_document(use_case)
        use_case.save()
        services.write_tags(use_case)
        return use_case


def add_metrics(
    use_case: UseCase, rows: Iterable[tuple[str, str, str] | tuple[str, str, str, bool]]
) -> list[OutcomeMetric]:
    """Store (metric, baseline, result[, higher_is_better]) rows and refresh the summary, as
    set_metrics does, without a revision."""
    metrics = OutcomeMetric.objects.bulk_create(
        OutcomeMetric(
            use_case=use_case,
            metric=row[0],
            baseline=Decimal(row[1]),
            result=Decimal(row[2]),
            higher_is_better=row[3] if len(row) > 3 else True,  # type: ignore[misc]
            unit="%",
            period="6 months",
            position=index,
        )
        for index, row in enumerate(rows)
    )
    services.refresh_metric_summary(use_case)
    return metrics
