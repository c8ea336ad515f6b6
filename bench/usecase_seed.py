"""The data sets of the use-case scenarios (called by bench/seed.py).

`seed_library(count)`: the `usecases_library` scenario's library of `count` use cases, written
with bulk_create in batches (fast: 100k in about a minute here) but with every derived field as
the services write it:

- the Markdown answers and their `*_html` (`render_markdown`, memoized: the texts are drawn
  from pools of sentences, so a few thousand distinct texts are rendered once each);
- `search_document` from `services.build_search_document` itself, metric names included;
- one `UseCaseTag` row per tag (`services.TAG_FIELDS`), tags normalized as `clean_tags` does;
- `OutcomeMetric` rows for about a third, with `metric_count` and `best_improvement` from
  `OutcomeMetric.improvement` (checked against `services.refresh_metric_summary`'s SQL, below);
- likes, bookmarks and views as rows by the seeded users, the counters equal to the rows;
- city coordinates quantized as `services.clean_location` stores them.

After seeding, `VACUUM ANALYZE` (what autovacuum does to a database in use), then 50 random use
cases are recomputed with the project's own functions (`build_search_document`,
`render_markdown`, the tag rows, the metric summary's SQL, the reaction rows) and the seed stops
if any derived field differs.

The variety is fixed by a seeded random generator, so a size always gives the same data: 20
organizations of very different sizes (one in four use cases is the first one's), 10 users
each, categories, cities, budget ranges and tags drawn with skewed weights (a few common, a long
tail), ~90% published, ~10% of those visible to their organization only. Searchable words
with a known rarity (`SELECTIVE_WORD`, `BROAD_WORD`) make the selective and broad search
queries of the scenario.

`create_library_viewer_credentials()`: a fresh session of each viewer (member 1 of every
organization: not an admin, not staff).

`seed_upload_authors(authors, use_cases_per_author)`: the `usecases_upload` scenario's authors
(verified users of their own organization, each with drafts to upload to) and one API token
each.
"""

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from functools import cache
from itertools import accumulate
from typing import Any

LIBRARY_ORGANIZATIONS = 20
LIBRARY_USERS_PER_ORGANIZATION = 10
LIBRARY_DOMAIN = "bench-library{index:02d}.example"
LIBRARY_PASSWORD = "Bench-Library-Flange-2026"  # noqa: S105 - the benchmark's own database
# The viewer: user 1 of organization 0 (a member; user 0 is the admin).
VIEWER_ORGANIZATION = 0
VIEWER_INDEX = 1
BATCH_SIZE = 5000
# Use cases whose derived fields are recomputed by the project's own functions after seeding.
VERIFY_SAMPLE = 50
RANDOM_SEED = 20260
# Bumped whenever the generated data changes, so a kept database of an older seed is rebuilt.
SEED_VERSION = 2

UPLOAD_DOMAIN = "bench-upload.example"
UPLOAD_ORGANIZATION = "Bench Upload Works"
UPLOAD_PASSWORD = "Bench-Upload-Sprocket-2026"  # noqa: S105

ORGANIZATION_NAMES = (
    "Najd Precision Castings",
    "Gulf Polymers",
    "Eastern Energy Services",
    "Red Sea Foods",
    "Jubail Steelworks",
    "Yanbu Pharma",
    "Qassim Logistics",
    "Hail Dairy",
    "Tabuk Glass",
    "Dammam Cables",
    "Riyadh Packaging",
    "Asir Furniture",
    "Jazan Agro",
    "Al Kharj Paper",
    "Medina Textiles",
    "KAEC Electronics",
    "Sudair Ceramics",
    "Rabigh Chemicals",
    "Ras Al-Khair Minerals",
    "Ahsa Dates Processing",
)
# Tag names (already normalized) with skewed weights: the first few are common.
INDUSTRY_TAGS = (
    "metal fabrication",
    "food and beverage",
    "petrochemicals",
    "plastics",
    "pharmaceuticals",
    "automotive parts",
    "building materials",
    "logistics",
    "energy",
    "electronics",
)
TECHNOLOGY_TAGS = (
    "iot",
    "machine learning",
    "machine vision",
    "scada",
    "edge computing",
    "digital twin",
    "collaborative robots",
    "mes",
    "energy metering",
    "augmented reality",
    "rfid",
    "cloud analytics",
)
ASSETS = (
    "CNC spindles",
    "injection moulding machines",
    "air compressors",
    "conveyor drives",
    "packaging lines",
    "boilers",
    "chillers",
    "extruders",
    "filling machines",
    "furnaces",
    "hydraulic presses",
    "cooling towers",
    "paint shop ovens",
    "welding cells",
    "forklift fleets",
    "warehouse racks",
    "kilns",
    "mixers",
    "cutting tables",
    "pumps",
)
TITLE_STEMS = {
    "quality_control": ("Inline inspection of {asset}", "Defect detection on {asset}"),
    "predictive_maintenance": (
        "Vibration monitoring on {asset}",
        "Failure forecasting for {asset}",
    ),
    "factory_automation": ("Automated loading of {asset}", "Cobots tending {asset}"),
    "artificial_intelligence": ("Machine learning models for {asset}", "AI scheduling of {asset}"),
    "sustainability": ("Cutting water use at {asset}", "Waste heat recovery from {asset}"),
    "process_optimization": ("Cycle time reduction on {asset}", "Changeover tracking on {asset}"),
    "supply_chain": ("Spare parts tracking for {asset}", "Supplier visibility for {asset}"),
    "innovation": ("Pilot of new sensors on {asset}", "Prototype controls for {asset}"),
    "training_and_safety": ("Safety training on {asset}", "Lockout procedures for {asset}"),
    "energy_efficiency": ("Energy metering of {asset}", "Variable speed drives on {asset}"),
}
PROBLEM_SENTENCES = (
    "Unplanned **downtime** on the line cost us two shifts a month.",
    "Scrap rates rose every summer and nobody could say why.",
    "Operators logged readings on paper, so trends were seen weeks late.",
    "Maintenance was planned by the calendar, not by the condition of the machines.",
    "Customer complaints about defects doubled in a year.",
    "Energy bills grew faster than production.",
    "Changeovers took most of a shift and varied from crew to crew.",
    "Spare parts were missing when a machine stopped, and urgent orders were expensive.",
    "New hires needed months before they could run a line alone.",
    "Quality checks were manual and sampled one part in a hundred.",
    "Water use per tonne was twice the regional benchmark.",
    "We could not trace a defective batch back to its raw material lot.",
    "Night shifts ran with half the crew and the machines idled between loads.",
    "Compressed air leaks were invisible until the compressors could not keep up.",
    "Planners re-entered orders by hand into three systems.",
    "Near misses around forklifts were rising.",
)
TECHNOLOGY_SENTENCES = (
    "Wireless vibration sensors on each machine report to an edge gateway per bay.",
    "Smart cameras over the conveyor run a trained defect model.",
    "A cloud dashboard collects PLC data every second.",
    "Collaborative robots with vision-guided picking load the machines from trays.",
    "Sub-meters on every feeder and a weekly energy report.",
    "A digital twin of the line replays each shift.",
    "RFID tags on bins and readers at every dock door.",
    "Augmented reality work instructions on tablets at each station.",
    "A gradient-boosted model on five years of SCADA history, retrained monthly.",
    "An MES module with electronic batch records and review by exception.",
    "Thermal cameras watch the bearings and the electrical cabinets.",
    "Variable speed drives replaced the throttling valves.",
    # Rare on purpose: the scenario's selective search (SELECTIVE_WORD).
    "Ultrasonic thickness gauges log wall loss on the pipe racks.",
)
OUTCOME_SENTENCES = (
    "Unplanned stops fell by two thirds within a year.",
    "Scrap fell from 4% to 1.5% of output.",
    "The payback came in nine months.",
    "Maintenance moved to planned windows; overtime fell by a third.",
    "Energy per unit fell by 18%.",
    "Customer returns fell by 80% within six months.",
    "Changeovers now take under an hour on every crew.",
    "Inspection now covers every part instead of one in a hundred.",
    "Batch release time fell from three days to one.",
    "Water use per tonne halved.",
)
CHALLENGE_SENTENCES = (
    "The first alarm thresholds raised too many false alarms.",
    "Wi-Fi coverage in the hall needed three extra access points.",
    "Operators did not trust the model until it caught a real failure.",
    "Retrofitting sensors needed shutdowns planned months ahead.",
    "Glare from the overhead lamps confused the cameras.",
    "Integrating with the old ERP took longer than the rest of the project.",
    "Validation documents took longer than the software setup.",
    "Dust and heat shortened the life of the first sensors.",
)
# (metric, unit, typical baseline, higher_is_better)
METRICS = (
    ("Unplanned downtime", "hours/month", 40, False),
    ("Scrap rate", "%", 4, False),
    ("OEE", "%", 60, True),
    ("Energy per unit", "kWh", 12, False),
    ("Customer returns", "per month", 30, False),
    ("Changeover time", "minutes", 180, False),
    ("Throughput", "units/hour", 400, True),
    ("Maintenance cost", "SAR k/year", 500, False),
    ("Water per tonne", "m³", 6, False),
    ("First pass yield", "%", 85, True),
    ("Inspection coverage", "%", 1, True),
    ("Lost time injuries", "per year", 6, False),
)
VENDORS = (
    "Gulf Sensing Co.",
    "Cobotics Arabia",
    "Desert Automation",
    "Najd Controls",
    "Arabian Vision Systems",
    "Peninsula Energy Services",
    "Red Sea Robotics",
    "Eastern Digital Works",
    "Falcon Industrial IT",
    "Oasis Metering",
)
SITE_KINDS = ("Plant", "Line", "Factory", "Works", "Yard", "Warehouse")
CONTACTS = (
    ("Omar Haddad", "Maintenance Engineer"),
    ("Sara Al-Qahtani", "Quality Manager"),
    ("Khalid Al-Otaibi", "Plant Manager"),
    ("Noura Al-Harbi", "Data Scientist"),
    ("Faisal Al-Dossary", "Operations Director"),
    ("Maha Al-Zahrani", "Process Engineer"),
)
# Searchable words of known rarity: SELECTIVE_WORD is only in one technology sentence, drawn
# for about 0.3% of the use cases; BROAD_WORD is in a category label and several sentences.
SELECTIVE_WORD = "ultrasonic"
BROAD_WORD = "maintenance"
SELECTIVE_SHARE = 0.003


def zipf_weights(count: int, exponent: float = 1.0) -> list[float]:
    return [1 / (rank**exponent) for rank in range(1, count + 1)]


class Weighted[T]:
    """Items drawn with fixed weights (cumulated once: random.choices would redo it per draw)."""

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        self.items = list(items)
        self.cumulative = list(accumulate(weights))

    def pick(self, generator: random.Random) -> T:
        return generator.choices(self.items, cum_weights=self.cumulative, k=1)[0]

    def pick_distinct(self, generator: random.Random, count: int) -> list[T]:
        chosen: list[T] = []
        while len(chosen) < count:
            item = self.pick(generator)
            if item not in chosen:
                chosen.append(item)
        return chosen


@cache
def rendered(text: str) -> str:
    from p2p_sandbox.markdown import render_markdown

    return render_markdown(text)


class LibraryGenerator:
    """Use case number n of the library, always the same for the same n (per-row generators
    seeded from n)."""

    def __init__(self) -> None:
        from usecases.constants import CITIES, BudgetRange, Category

        self.categories = Weighted([category.value for category in Category], zipf_weights(10, 0.5))
        # Riyadh, Jeddah, Dammam and Jubail hold most of the industry.
        self.cities = Weighted(CITIES, zipf_weights(len(CITIES), 1.1))
        self.budgets = Weighted([budget.value for budget in BudgetRange], [30, 30, 15, 8, 10, 7])
        self.industry_tags = Weighted(INDUSTRY_TAGS, zipf_weights(len(INDUSTRY_TAGS)))
        self.technology_tags = Weighted(TECHNOLOGY_TAGS, zipf_weights(len(TECHNOLOGY_TAGS)))
        self.organizations = Weighted(
            range(LIBRARY_ORGANIZATIONS), zipf_weights(LIBRARY_ORGANIZATIONS)
        )
        self.assets = Weighted(ASSETS, zipf_weights(len(ASSETS), 0.8))
        self.vendors = Weighted(VENDORS, zipf_weights(len(VENDORS)))
        common = (1 - SELECTIVE_SHARE) / (len(TECHNOLOGY_SENTENCES) - 1)
        self.technology_sentences = Weighted(
            TECHNOLOGY_SENTENCES,
            [common] * (len(TECHNOLOGY_SENTENCES) - 1) + [SELECTIVE_SHARE],
        )

    def fields(self, number: int, now: Any) -> dict[str, Any]:
        from usecases.constants import CITIES_BY_KEY
        from usecases.models import UseCase

        generator = random.Random(RANDOM_SEED * 1_000_003 + number)
        category = self.categories.pick(generator)
        asset = self.assets.pick(generator)
        city = self.cities.pick(generator)
        site = f"{CITIES_BY_KEY[city.key].name} {generator.choice(SITE_KINDS)} {number % 7 + 1}"
        stem = generator.choice(TITLE_STEMS[category])
        title = stem.format(asset=asset)
        problem = " ".join(generator.sample(PROBLEM_SENTENCES, 2))
        technology = self.technology_sentences.pick(generator)
        technology += " " + generator.choice(TECHNOLOGY_SENTENCES[:-1])
        outcomes = " ".join(generator.sample(OUTCOME_SENTENCES, 2))
        challenges = generator.choice(CHALLENGE_SENTENCES)
        roll = generator.random()
        if roll < 0.90:
            status = UseCase.Status.PUBLISHED
        elif roll < 0.95:
            status = UseCase.Status.DRAFT
        elif roll < 0.97:
            status = UseCase.Status.SUBMITTED
        elif roll < 0.98:
            status = UseCase.Status.REJECTED
        else:
            status = UseCase.Status.ARCHIVED
        age_days = generator.uniform(0, 3 * 365)
        created_at = now - timedelta(days=age_days + generator.uniform(5, 60))
        submitted = status != UseCase.Status.DRAFT
        published = status in (UseCase.Status.PUBLISHED, UseCase.Status.ARCHIVED)
        contact_name, contact_title = generator.choice(CONTACTS)
        vendor = self.vendors.pick(generator) if generator.random() < 0.6 else ""
        coordinates = Decimal("0.00001")
        organization_only = generator.random() < 0.1
        return {
            "organization_index": self.organizations.pick(generator),
            "author_index": generator.randrange(LIBRARY_USERS_PER_ORGANIZATION),
            "title": title,
            "category": category,
            "problem": problem,
            "technology": technology,
            "budget_range": self.budgets.pick(generator),
            "budget_amount": Decimal(generator.randrange(20, 2000) * 1000)
            if generator.random() < 0.5
            else None,
            "outcomes": outcomes,
            "challenges": challenges,
            "site_name": site,
            "city": city.key,
            "latitude": Decimal(str(city.latitude)).quantize(coordinates),
            "longitude": Decimal(str(city.longitude)).quantize(coordinates),
            "industry_tags": self.industry_tags.pick_distinct(
                generator, 1 + (generator.random() < 0.4)
            ),
            "technology_tags": self.technology_tags.pick_distinct(
                generator, generator.randint(1, 3)
            ),
            "contact_name": contact_name,
            "contact_title": contact_title,
            "vendor_name": vendor,
            "vendor_website": "https://vendor.example" if vendor else "",
            "implementation_months": generator.randint(1, 18),
            "roi_percent": (
                Decimal(generator.randrange(5, 400)) if generator.random() < 0.5 else None
            ),
            "payback_months": generator.randint(3, 36) if generator.random() < 0.5 else None,
            "status": status,
            "visibility": UseCase.Visibility.ORGANIZATION
            if organization_only
            else UseCase.Visibility.PUBLIC,
            "is_featured": published and generator.random() < 0.01,
            "wizard_step": 3 if submitted else generator.randint(1, 3),
            "created_at": created_at,
            "updated_at": now - timedelta(days=age_days),
            "submitted_at": created_at + timedelta(days=2) if submitted else None,
            "published_at": now - timedelta(days=age_days) if published else None,
            "reviewed_at": now - timedelta(days=age_days) if submitted else None,
            "metrics": self.metrics(generator) if generator.random() < 0.35 else [],
            **self.reactions(
                generator, status == UseCase.Status.PUBLISHED and not organization_only
            ),
        }

    def reactions(self, generator: random.Random, public: bool) -> dict[str, list[int]]:
        """Which of the library's users liked, bookmarked and viewed the use case (indexes
        into them): only public published ones, and skewed, most of them by nobody."""
        if not public:
            return {"likes": [], "bookmarks": [], "views": []}
        popularity = generator.random() ** 6
        users = LIBRARY_ORGANIZATIONS * LIBRARY_USERS_PER_ORGANIZATION
        return {
            key: generator.sample(range(users), int(popularity * scale))
            for key, scale in (("likes", 3), ("bookmarks", 1.5), ("views", 8))
        }

    def metrics(self, generator: random.Random) -> list[dict[str, Any]]:
        rows = []
        for position, (metric, unit, typical, higher) in enumerate(
            generator.sample(METRICS, generator.randint(1, 3))
        ):
            baseline = Decimal(typical) * Decimal(generator.randint(50, 150)) / 100
            change = Decimal(generator.randint(5, 70)) / 100
            result = baseline * (1 + change if higher else 1 - change)
            rows.append(
                {
                    "metric": metric,
                    "unit": unit,
                    "baseline": baseline.quantize(Decimal("0.0001")),
                    "result": result.quantize(Decimal("0.0001")),
                    "period": f"{generator.choice((6, 9, 12, 18))} months",
                    "higher_is_better": higher,
                    "position": position,
                }
            )
        return rows


def library_email(organization: int, index: int) -> str:
    return f"member{index:02d}@{LIBRARY_DOMAIN.format(index=organization)}"


def _library_users(encoded: str) -> list[list[Any]]:
    """The organizations and their users: users[organization][index]."""
    from bench.seed import create_verified_users

    users = []
    for index, name in enumerate(ORGANIZATION_NAMES[:LIBRARY_ORGANIZATIONS]):
        users.append(
            create_verified_users(
                LIBRARY_USERS_PER_ORGANIZATION,
                organization=(
                    f"{name} (bench)",
                    f"bench-library-{index:02d}",
                    LIBRARY_DOMAIN.format(index=index),
                ),
                email=lambda number, index=index: library_email(index, number),
                last_name="Member",
                encoded=encoded,
            )
        )
    return users


def _timed[T](timings: dict[str, float], name: str, work: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = work()
    timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - started, 2)
    return result


def seed_library(count: int) -> dict[str, Any]:
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Organization, User
    from usecases.models import (
        OutcomeMetric,
        UseCase,
        UseCaseBookmark,
        UseCaseLike,
        UseCaseTag,
        UseCaseView,
    )

    if Organization.objects.filter(slug="bench-library-00").exists():
        raise SystemExit("the library's organizations exist already: seed a fresh database")
    started = time.perf_counter()
    timings: dict[str, float] = {}
    users = _timed(timings, "users_s", lambda: _library_users(make_password(LIBRARY_PASSWORD)))
    everyone = [user for organization in users for user in organization]
    reviewer = User.objects.create_user(
        email=f"reviewer@{LIBRARY_DOMAIN.format(index=0)}",
        password=None,
        first_name="Bench",
        last_name="Reviewer",
        is_staff=True,
        email_verified_at=timezone.now(),
    )
    library = LibraryGenerator()
    now = timezone.now()
    totals = dict.fromkeys(("tag_rows", "metric_rows", "with_metrics"), 0)
    reaction_models = {"likes": UseCaseLike, "bookmarks": UseCaseBookmark, "views": UseCaseView}
    counters = {"likes": "like_count", "bookmarks": "bookmark_count", "views": "view_count"}
    totals.update(dict.fromkeys(reaction_models, 0))
    tables = [model._meta.db_table for model in (UseCase, UseCaseTag, OutcomeMetric)]
    tables += [model._meta.db_table for model in reaction_models.values()]
    with secondary_indexes_built_after(tables, timings):
        _seed_use_cases(count, library, users, everyone, reviewer, now, totals, timings)
    if connection.vendor == "postgresql":
        # What autovacuum would have done on a database in use: planner statistics and the
        # visibility map (index-only scans).
        with connection.cursor() as cursor:
            _timed(timings, "vacuum_analyze_s", lambda: cursor.execute("VACUUM ANALYZE"))
    verified = _timed(timings, "verify_s", lambda: verify_sample(VERIFY_SAMPLE))
    library_rows = UseCase.objects.filter(status=UseCase.Status.PUBLISHED)
    viewer = users[VIEWER_ORGANIZATION][VIEWER_INDEX]
    return {
        "use_cases": count,
        "published": library_rows.count(),
        "published_public": library_rows.filter(visibility=UseCase.Visibility.PUBLIC).count(),
        "organizations": LIBRARY_ORGANIZATIONS,
        "users": len(everyone),
        "viewer": viewer.email,
        "tag_rows": totals["tag_rows"],
        "use_cases_with_metrics": totals["with_metrics"],
        "metric_rows": totals["metric_rows"],
        **{key: totals[key] for key in reaction_models},
        "counters": counters,
        "markdown_texts_rendered": rendered.cache_info().currsize,
        "verified_sample": verified,
        "seed_version": SEED_VERSION,
        "timings": timings,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _seed_use_cases(
    count: int,
    library: "LibraryGenerator",
    users: list[list[Any]],
    everyone: list[Any],
    reviewer: Any,
    now: Any,
    totals: dict[str, int],
    timings: dict[str, float],
) -> None:
    """The use cases in batches, each with its tag, metric and reaction rows."""
    from django.db import transaction
    from django.utils.text import slugify

    from usecases import services
    from usecases.models import (
        OutcomeMetric,
        UseCase,
        UseCaseBookmark,
        UseCaseLike,
        UseCaseTag,
        UseCaseView,
    )

    reaction_models = {"likes": UseCaseLike, "bookmarks": UseCaseBookmark, "views": UseCaseView}
    for first in range(0, count, BATCH_SIZE):
        numbers = range(first, min(count, first + BATCH_SIZE))
        rows = _timed(
            timings, "generate_s", lambda numbers=numbers: [library.fields(n, now) for n in numbers]
        )
        use_cases = _timed(
            timings,
            "build_s",
            lambda numbers=numbers, rows=rows: [
                _build_use_case(number, row, users, reviewer, slugify)
                for number, row in zip(numbers, rows, strict=True)
            ],
        )
        with transaction.atomic():
            _timed(
                timings,
                "use_cases_s",
                lambda use_cases=use_cases: UseCase.objects.bulk_create(use_cases),
            )
            tags = [
                UseCaseTag(use_case=use_case, kind=kind, name=name)
                for use_case in use_cases
                for field, kind in services.TAG_FIELDS.items()
                for name in getattr(use_case, field)
            ]
            _timed(timings, "tags_s", lambda tags=tags: UseCaseTag.objects.bulk_create(tags))
            metrics = [
                OutcomeMetric(use_case=use_case, **metric)
                for use_case, row in zip(use_cases, rows, strict=True)
                for metric in row["metrics"]
            ]
            _timed(
                timings,
                "metrics_s",
                lambda metrics=metrics: OutcomeMetric.objects.bulk_create(metrics),
            )
            for key, model in reaction_models.items():
                reactions = [
                    model(use_case=use_case, user=everyone[index])
                    for use_case, row in zip(use_cases, rows, strict=True)
                    for index in row[key]
                ]
                _timed(
                    timings,
                    "reactions_s",
                    lambda model=model, reactions=reactions: model.objects.bulk_create(reactions),
                )
                totals[key] += len(reactions)
        totals["tag_rows"] += len(tags)
        totals["metric_rows"] += len(metrics)
        totals["with_metrics"] += sum(1 for row in rows if row["metrics"])


@contextmanager
def secondary_indexes_built_after(
    tables: Sequence[str], timings: dict[str, float]
) -> Iterator[None]:
    """On PostgreSQL, drop the indexes of `tables` that back no constraint (the full-text GIN
    index above all: maintained row by row it is most of a bulk load's time), and create them
    again from their own definitions (pg_indexes) once the block is done: the same indexes the
    migrations made, built in one pass each."""
    from django.db import connection

    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            " AND tablename = ANY(%s) AND indexname NOT IN (SELECT conname FROM pg_constraint"
            " WHERE contype IN ('p', 'u', 'x'))",
            [list(tables)],
        )
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    yield
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for _name, definition in indexes:
            cursor.execute(definition)
        cursor.execute("RESET maintenance_work_mem")
    timings["indexes_s"] = round(time.perf_counter() - started, 2)
    timings["indexes_rebuilt"] = len(indexes)


def _build_use_case(
    number: int,
    row: dict[str, Any],
    users: list[list[Any]],
    reviewer: Any,
    slugify: Callable[[str], str],
) -> Any:
    """The row of use case `number`, with what the services derive on write: the HTML, the
    search document, the metric summary (`OutcomeMetric.improvement`, as
    `services.refresh_metric_summary` keeps it), the reaction counters."""
    from usecases import services
    from usecases.models import OutcomeMetric, UseCase

    author = users[row["organization_index"]][row["author_index"]]
    derived = ("organization_index", "author_index", "metrics", "likes", "bookmarks", "views")
    improvements = [
        improvement
        for metric in row["metrics"]
        if (improvement := OutcomeMetric(**metric).improvement) is not None
    ]
    use_case = UseCase(
        organization=author.organization,
        author=author,
        slug=f"{slugify(row['title'])[:100]}-{number}",
        reviewed_by=reviewer if row["reviewed_at"] else None,
        budget_currency="SAR",
        metric_count=len(row["metrics"]),
        best_improvement=max(improvements, default=None),
        like_count=len(row["likes"]),
        bookmark_count=len(row["bookmarks"]),
        view_count=len(row["views"]),
        **{key: value for key, value in row.items() if key not in derived},
    )
    for name in services.MARKDOWN_FIELDS:
        setattr(use_case, f"{name}_html", rendered(getattr(use_case, name)))
    use_case.search_document = services.build_search_document(
        use_case, [metric["metric"] for metric in row["metrics"]]
    )
    return use_case


def verify_sample(size: int) -> int:
    """Recompute the derived fields of `size` random use cases with the project's functions
    (search document, HTML, tag rows, metric summary) and stop the seed if any differs."""
    from django.db.models import Count, Max

    from p2p_sandbox.markdown import render_markdown
    from usecases import services
    from usecases.models import OutcomeMetric, UseCase, UseCaseTag, improvement_expression

    sample = UseCase.objects.select_related("organization").order_by("?")[:size]
    for use_case in sample:
        summary = OutcomeMetric.objects.filter(use_case=use_case).aggregate(
            count=Count("id"), best=Max(improvement_expression())
        )
        best = summary["best"]
        tags = set(UseCaseTag.objects.filter(use_case=use_case).values_list("kind", "name"))
        problems = [
            name
            for name, wrong in (
                (
                    "search_document",
                    use_case.search_document
                    != services.build_search_document(use_case, services.metric_names(use_case)),
                ),
                (
                    "html",
                    any(
                        getattr(use_case, f"{name}_html")
                        != render_markdown(getattr(use_case, name))
                        for name in services.MARKDOWN_FIELDS
                    ),
                ),
                (
                    "tag rows",
                    tags
                    != {
                        (kind, name)
                        for field, kind in services.TAG_FIELDS.items()
                        for name in getattr(use_case, field)
                    },
                ),
                ("metric_count", use_case.metric_count != summary["count"]),
                (
                    "reaction counters",
                    (use_case.like_count, use_case.bookmark_count, use_case.view_count)
                    != (
                        use_case.likes.count(),
                        use_case.bookmarks.count(),
                        use_case.views.count(),
                    ),
                ),
                (
                    "best_improvement",
                    (use_case.best_improvement is None) != (best is None)
                    or (
                        best is not None
                        and abs(use_case.best_improvement - best) > Decimal("0.005")
                    ),
                ),
            )
            if wrong
        ]
        if problems:
            raise SystemExit(
                f"use case {use_case.pk}: {', '.join(problems)} not as the services write"
            )
    return len(sample)


def create_library_viewer_credentials() -> dict[str, Any]:
    """A fresh session of each viewer, for the load generator's requests: member 1 (not an
    admin) of every organization, so the library seen differs by its organization-only part."""
    from django.conf import settings

    from accounts.models import User
    from bench.seed import create_sessions

    emails = [library_email(index, VIEWER_INDEX) for index in range(LIBRARY_ORGANIZATIONS)]
    by_email = {
        user.email: user
        for user in User.objects.select_related("organization").filter(email__in=emails)
    }
    viewers = [by_email[email] for email in emails]
    return {
        "cookie_name": settings.SESSION_COOKIE_NAME,
        "viewers": [
            {
                "id": viewer.pk,
                "email": viewer.email,
                "organization_id": viewer.organization_id,
                "organization_slug": viewer.organization.slug,
                "session_key": session_key,
            }
            for viewer, session_key in zip(viewers, create_sessions(viewers), strict=True)
        ],
    }


def upload_email(index: int) -> str:
    return f"author{index:04d}@{UPLOAD_DOMAIN}"


def seed_upload_authors(
    authors: int, use_cases_per_author: int, credentials_file: str
) -> dict[str, Any]:
    """`authors` verified users, each with `use_cases_per_author` drafts (never submitted) and
    one personal API token; the drafts, in upload order, and the tokens go to
    `credentials_file` (not to stdout)."""
    import json

    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts.models import User
    from accounts.services import create_api_token
    from bench.seed import create_verified_users
    from usecases import services
    from usecases.models import UseCase

    if User.objects.filter(email__endswith=f"@{UPLOAD_DOMAIN}").exists():
        raise SystemExit(f"users @{UPLOAD_DOMAIN} exist already: seed a fresh database")
    started = time.perf_counter()
    users = create_verified_users(
        authors,
        organization=(UPLOAD_ORGANIZATION, "bench-upload-works", UPLOAD_DOMAIN),
        email=upload_email,
        last_name="Author",
        encoded=make_password(UPLOAD_PASSWORD),
    )
    now = timezone.now()
    drafts = []
    for slot in range(use_cases_per_author):
        for user in users:
            use_case = UseCase(
                organization=user.organization,
                author=user,
                title=f"Photos of press line {slot} by {user.last_name}",
                slug=f"photos-of-press-line-{slot}-{user.pk}",
                category="quality_control",
                created_at=now,
                updated_at=now,
            )
            use_case.search_document = services.build_search_document(use_case)
            drafts.append(use_case)
    UseCase.objects.bulk_create(drafts, batch_size=BATCH_SIZE)
    tokens = {user.pk: create_api_token(actor=user, name="bench upload")[1] for user in users}
    credentials = {
        "authors": [
            {"id": user.pk, "email": user.email, "token": tokens[user.pk]} for user in users
        ],
        # Upload order: use case k belongs to author k mod N, so consecutive uploads come from
        # different authors.
        "use_cases": [{"id": use_case.pk, "author_id": use_case.author_id} for use_case in drafts],
    }
    with open(credentials_file, "w") as output:
        json.dump(credentials, output)
    return {
        "authors": authors,
        "use_cases_per_author": use_cases_per_author,
        "drafts": len(drafts),
        "emails": f"{upload_email(0)} .. {upload_email(authors - 1)}",
        "seconds": round(time.perf_counter() - started, 2),
    }
