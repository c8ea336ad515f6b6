"""Demo use cases for `manage.py seed_demo`: twelve published case studies across categories and
cities, with outcome metrics, a cover image, a few likes and views. Idempotent: a use case whose
slug exists in its organization is left as it is. Run after accounts.demo.seed_demo_accounts().

The cover images are drawn here (a chart of the use case's metrics on its category's colour) and
go through the media pipeline like any upload: stored, then processed by the worker (in-process
on the embedded default)."""

import zlib
from datetime import timedelta
from decimal import Decimal
from io import BytesIO
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from PIL import Image, ImageDraw

from accounts.models import User
from usecases import services
from usecases.media import add_media
from usecases.models import UseCase

# Each: author, days since publication, fields, metrics (metric, unit, baseline, result, period,
# higher_is_better).
USE_CASES: list[tuple[str, int, dict[str, Any], list[tuple]]] = [
    ("omar@gulfprecision.example", 12, {
        "title": "Vibration monitoring on CNC spindles",
        "category": "predictive_maintenance", "city": "jubail", "site_name": "Jubail Plant 2",
        "budget_range": "50k_250k", "budget_amount": Decimal("180000"),
        "industry_tags": ["metal fabrication", "machining"],
        "technology_tags": ["iot", "vibration analysis", "edge computing"],
        "problem": "Spindle bearings on our five-axis CNC machines failed **without warning**, "
                   "about twice a month. Each failure stopped a cell for two shifts.",
        "technology": "Wireless triaxial vibration sensors on each spindle, an edge gateway per "
                      "bay, and alarm thresholds per machine.",
        "outcomes": "Unplanned spindle stops fell from eight to two a quarter. Bearings are now "
                    "changed in planned windows.",
        "challenges": "The first thresholds raised too many false alarms; it took six weeks "
                      "of tuning before the night shift trusted them.",
        "vendor_name": "Gulf Sensing Co.", "vendor_website": "https://gulfsensing.example",
        "implementation_months": 3, "roi_percent": Decimal("140"), "payback_months": 9,
    }, [("Unplanned spindle stops", "per quarter", "8", "2", "12 months", False),
        ("Maintenance cost", "SAR k", "420", "310", "12 months", False)]),
    ("khalid@najdfoods.example", 20, {
        "title": "Machine vision for bottle cap inspection",
        "category": "quality_control", "city": "riyadh", "site_name": "Riyadh bottling line 3",
        "budget_range": "under_50k", "budget_amount": Decimal("42000"),
        "industry_tags": ["food and beverage", "packaging"],
        "technology_tags": ["machine vision", "ai"],
        "problem": "Loose and crooked caps reached customers; manual checks at 400 bottles a "
                   "minute missed most of them.",
        "technology": "Two smart cameras over the conveyor with a trained defect model and an "
                      "air-jet rejector.",
        "outcomes": "Customer returns for cap defects fell by 80% within six months.",
        "challenges": "Glare from the overhead lamps; we added a diffuse light tunnel.",
        "implementation_months": 2, "roi_percent": Decimal("310"), "payback_months": 4,
    }, [("Cap-defect returns", "per month", "50", "10", "6 months", False),
        ("Inspection rate", "bottles/min", "400", "600", "6 months", True)]),
    ("yousef@easternenergy.example", 35, {
        "title": "Energy metering across compressor stations",
        "category": "energy_efficiency", "city": "dammam", "site_name": "Dammam station cluster",
        "budget_range": "250k_1m",
        "industry_tags": ["energy", "oil and gas services"],
        "technology_tags": ["energy metering", "iot", "scada"],
        "problem": "We paid for compressed air we never used: leaks and idle running were "
                   "invisible.",
        "technology": "Sub-meters on every compressor, flow meters on the headers, and a "
                      "weekly leak report.",
        "outcomes": "Electricity per cubic metre of air fell by 18%.",
        "challenges": "Retrofitting meters needed shutdowns we had to schedule months ahead.",
        "implementation_months": 8, "roi_percent": Decimal("65"), "payback_months": 20,
    }, [("Specific energy", "kWh/m³", "0.125", "0.1025", "12 months", False)]),
    ("noura@easternenergy.example", 50, {
        "title": "Forecasting pump failures with machine learning",
        "category": "artificial_intelligence", "city": "dhahran",
        "site_name": "Dhahran pumping yard", "budget_range": "prefer_not_to_say",
        "industry_tags": ["energy"],
        "technology_tags": ["machine learning", "predictive maintenance", "python"],
        "problem": "Pump failures were predicted from calendar intervals, not condition.",
        "technology": "A gradient-boosted model on five years of SCADA history, retrained "
                      "monthly, with results in the maintenance planner.",
        "outcomes": "The model flags 7 of 10 failures at least a week early.",
        "challenges": "Labelling past failures from free-text work orders took longest.",
        "implementation_months": 6,
    }, [("Failures caught a week early", "%", "0", "70", "9 months", True),
        ("Emergency call-outs", "per month", "12", "5", "9 months", False)]),
    ("sara@gulfprecision.example", 60, {
        "title": "Cobots for machine tending on the night shift",
        "category": "factory_automation", "city": "jubail", "site_name": "Jubail Plant 1",
        "budget_range": "250k_1m", "budget_amount": Decimal("640000"),
        "industry_tags": ["metal fabrication"],
        "technology_tags": ["collaborative robots", "automation"],
        "problem": "We could not staff the night shift for loading the lathes.",
        "technology": "Four collaborative robots with vision-guided picking from trays.",
        "outcomes": "Lathes now run 20 hours a day instead of 14.",
        "challenges": "Tray design mattered more than the robot; we redesigned it twice.",
        "vendor_name": "Cobotics Arabia", "implementation_months": 5,
        "roi_percent": Decimal("48"), "payback_months": 26,
    }, [("Lathe running hours", "h/day", "14", "20", "6 months", True)]),
    ("maha@yanbupharma.example", 75, {
        "title": "Digital batch records in tablet production",
        "category": "process_optimization", "city": "yanbu", "site_name": "Yanbu OSD plant",
        "budget_range": "50k_250k",
        "industry_tags": ["pharmaceuticals"],
        "technology_tags": ["mes", "electronic batch records"],
        "problem": "Paper batch records took three days to review before release.",
        "technology": "An electronic batch record module with review by exception.",
        "outcomes": "Batch release time fell from 72 to 20 hours.",
        "challenges": "Validation documents for GMP took longer than the software setup.",
        "implementation_months": 9, "roi_percent": Decimal("90"), "payback_months": 14,
    }, [("Batch release time", "hours", "72", "20", "12 months", False),
        ("Record errors", "per batch", "3.2", "0.4", "12 months", False)]),
    ("faisal@qassimlogistics.example", 90, {
        "title": "Temperature telemetry in the cold-chain fleet",
        "category": "supply_chain", "city": "qassim", "site_name": "Buraydah depot",
        "budget_range": "under_50k",
        "industry_tags": ["logistics", "food and beverage"],
        "technology_tags": ["telematics", "iot", "cold chain"],
        "problem": "Customers rejected loads for temperature excursions we could not prove "
                   "or disprove.",
        "technology": "Cellular temperature loggers in every reefer with live alerts to the "
                      "dispatcher.",
        "outcomes": "Rejected loads fell by two thirds; disputes are settled with the data.",
        "challenges": "Coverage gaps on desert routes; loggers now buffer and upload later.",
        "implementation_months": 2, "roi_percent": Decimal("220"), "payback_months": 5,
    }, [("Rejected loads", "per month", "9", "3", "6 months", False)]),
    ("tariq@yanbupharma.example", 110, {
        "title": "Virtual reality training for cleanroom gowning",
        "category": "training_and_safety", "city": "yanbu", "site_name": "Yanbu sterile unit",
        "budget_range": "under_50k",
        "industry_tags": ["pharmaceuticals"],
        "technology_tags": ["virtual reality", "training"],
        "problem": "Gowning mistakes were the top cause of cleanroom deviations.",
        "technology": "A VR module that scores each gowning step before access is granted.",
        "outcomes": "Gowning deviations halved in the first two quarters.",
        "challenges": "Headset hygiene between trainees needed its own procedure.",
        "implementation_months": 3,
    }, [("Gowning deviations", "per quarter", "14", "7", "6 months", False)]),
    ("fatimah@redseaplastics.example", 130, {
        "title": "Servo retrofit of injection moulding machines",
        "category": "sustainability", "city": "jeddah", "site_name": "Jeddah moulding hall",
        "budget_range": "50k_250k", "budget_amount": Decimal("210000"),
        "industry_tags": ["plastics"],
        "technology_tags": ["servo drives", "energy efficiency"],
        "problem": "Our hydraulic moulders ran their pumps at full speed even when idle.",
        "technology": "Servo-driven pump retrofits on six machines.",
        "outcomes": "Energy per kilogram of product fell by 35%, and the hall is cooler.",
        "challenges": "Two older machines needed new hydraulic seals first.",
        "implementation_months": 4, "roi_percent": Decimal("85"), "payback_months": 16,
    }, [("Energy per kg", "kWh/kg", "1.2", "0.78", "12 months", False),
        ("Oil temperature", "°C", "55", "45", "12 months", False)]),
    ("aisha@najdfoods.example", 150, {
        "title": "Solar carports at the Al Kharj distribution centre",
        "category": "sustainability", "city": "al_kharj", "site_name": "Al Kharj DC",
        "budget_range": "over_1m",
        "industry_tags": ["food and beverage", "logistics"],
        "technology_tags": ["solar pv", "energy storage"],
        "problem": "Daytime cooling loads made the distribution centre our largest power "
                   "user.",
        "technology": "A 1.2 MWp carport array with a small battery for peak shaving.",
        "outcomes": "The array covers 38% of the site's yearly electricity.",
        "challenges": "Dust: panel cleaning every two weeks is now in the schedule.",
        "implementation_months": 10, "roi_percent": Decimal("12"), "payback_months": 84,
    }, [("Grid electricity", "MWh/year", "3100", "1920", "12 months", False)]),
    ("khalid@najdfoods.example", 170, {
        "title": "Innovation sprints with a university lab",
        "category": "innovation", "city": "riyadh", "site_name": "Riyadh R&D kitchen",
        "budget_range": "unknown",
        "industry_tags": ["food and beverage"],
        "technology_tags": ["open innovation", "prototyping"],
        "problem": "New product ideas stalled between marketing and production.",
        "technology": "Eight-week sprints with a university food-science lab and a pilot line.",
        "outcomes": "Three products reached shelves in a year instead of one.",
        "challenges": "Agreeing on intellectual property took two months.",
        "visibility": "organization",
    }, [("Products launched", "per year", "1", "3", "12 months", True)]),
    ("yousef@easternenergy.example", 200, {
        "title": "Drone inspections of flare stacks",
        "category": "training_and_safety", "city": "ras_al_khair",
        "site_name": "Ras Al-Khair service base", "budget_range": "50k_250k",
        "industry_tags": ["energy"],
        "technology_tags": ["drones", "thermal imaging"],
        "problem": "Flare stack inspections needed scaffolding and a shutdown.",
        "technology": "Drones with thermal and zoom cameras, flown by two trained staff.",
        "outcomes": "Inspections take one day instead of nine, with nobody working at "
                    "height.",
        "challenges": "Permits for flying near live flares took a new procedure.",
        "implementation_months": 4, "roi_percent": Decimal("400"), "payback_months": 3,
    }, [("Inspection duration", "days", "9", "1", "12 months", False),
        ("Work at height", "hours/year", "640", "0", "12 months", False)]),
]  # fmt: skip

# Who likes and views the demo use cases (everyone who may see them, in turn).
READERS = [
    "sara@gulfprecision.example",
    "aisha@najdfoods.example",
    "fatimah@redseaplastics.example",
    "yousef@easternenergy.example",
    "faisal@qassimlogistics.example",
    "maha@yanbupharma.example",
]


COVER_SIZE = (1200, 675)
# A colour per category, for the covers.
COVER_COLOURS = {
    "quality_control": (21, 101, 192),
    "predictive_maintenance": (0, 121, 107),
    "factory_automation": (69, 90, 100),
    "artificial_intelligence": (94, 53, 177),
    "sustainability": (46, 125, 50),
    "process_optimization": (239, 108, 0),
    "supply_chain": (109, 76, 65),
    "innovation": (173, 20, 87),
    "training_and_safety": (198, 40, 40),
    "energy_efficiency": (249, 168, 37),
}


def cover_image(slug: str, category: str, metrics: list[tuple]) -> SimpleUploadedFile:
    """A JPEG cover: the category's colour, a skyline of machines and, per metric, a pair of
    bars (baseline and result) scaled to the larger of the two."""
    base = COVER_COLOURS.get(category, (69, 90, 100))
    width, height = COVER_SIZE
    image = Image.new("RGB", COVER_SIZE, base)
    draw = ImageDraw.Draw(image)
    for row in range(height):
        shade = 0.55 + 0.45 * row / height
        draw.line([(0, row), (width, row)], fill=tuple(int(c * shade) for c in base))
    seed = zlib.crc32(slug.encode())
    x = 0
    while x < width:
        block_width = 60 + seed % 90
        block_height = 90 + (seed >> 7) % 160
        draw.rectangle([x, height - block_height, x + block_width, height], fill=(30, 34, 40))
        seed = zlib.crc32(seed.to_bytes(4, "big"))
        x += block_width + 8
    left = 120
    for metric in metrics:
        baseline, result = float(metric[2]), float(metric[3])
        top = max(baseline, result) or 1.0
        for offset, (value, colour) in enumerate(
            ((baseline, (236, 239, 241)), (result, (255, 213, 79)))
        ):
            bar_height = int(320 * value / top)
            x0 = left + offset * 70
            draw.rectangle([x0, 420 - bar_height, x0 + 56, 420], fill=colour)
        left += 220
    output = BytesIO()
    image.save(output, "JPEG", quality=82)
    return SimpleUploadedFile(f"{slug}.jpg", output.getvalue(), content_type="image/jpeg")


@transaction.atomic
def create_demo_use_cases() -> list[UseCase]:
    """Create the demo use cases that are missing; answers those created."""
    people = {user.email: user for user in User.objects.filter(email__endswith=".example")}
    readers = [people[email] for email in READERS if email in people]
    created = []
    now = timezone.now()
    for index, (email, days_ago, fields, metrics) in enumerate(USE_CASES):
        author = people.get(email)
        if author is None:
            continue
        slug = slugify(fields["title"])
        if UseCase.objects.filter(organization_id=author.organization_id, slug=slug).exists():
            continue
        fields = {
            "contact_name": author.get_full_name(),
            "contact_title": author.job_title,
            **fields,
        }
        use_case = services.create_use_case(actor=author, fields=fields)
        services.set_metrics(
            actor=author,
            use_case_id=use_case.pk,
            metrics=[
                {
                    "metric": metric,
                    "unit": unit,
                    "baseline": Decimal(baseline),
                    "result": Decimal(result),
                    "period": period,
                    "higher_is_better": higher_is_better,
                }
                for metric, unit, baseline, result, period, higher_is_better in metrics
            ],
        )
        add_media(
            actor=author,
            use_case=use_case,
            files=[cover_image(slug, fields["category"], metrics)],
        )
        services.submit_use_case(actor=author, use_case_id=use_case.pk)
        # Published as a reviewer would, without notifying the demo authors.
        published_at = now - timedelta(days=days_ago)
        UseCase.objects.filter(pk=use_case.pk).update(
            status=UseCase.Status.PUBLISHED,
            submitted_at=published_at - timedelta(days=1),
            published_at=published_at,
            reviewed_at=published_at,
            is_featured=index < 2,
        )
        use_case.refresh_from_db()
        for position, reader in enumerate(readers):
            if not services.can_view(reader, use_case) or reader.pk == author.pk:
                continue
            services.record_view(actor=reader, use_case_id=use_case.pk)
            if (index + position) % 3 == 0:
                services.toggle_like(actor=reader, use_case_id=use_case.pk, liked=True)
            if (index + position) % 4 == 0:
                services.toggle_bookmark(actor=reader, use_case_id=use_case.pk, bookmarked=True)
        created.append(use_case)
    return created
