"""Demo organizations and people for `manage.py seed_demo`."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import Organization, User

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - published on purpose, DEBUG only

ORGANIZATIONS = [
    ("gulf-precision", "Gulf Precision Industries", "gulfprecision.example", "manufacturing",
     "medium", "Jubail", True),
    ("najd-foods", "Najd Foods Company", "najdfoods.example", "food_and_beverage", "large",
     "Riyadh", True),
    ("red-sea-plastics", "Red Sea Plastics", "redseaplastics.example", "petrochemicals", "small",
     "Jeddah", False),
    ("eastern-energy", "Eastern Energy Services", "easternenergy.example", "energy", "large",
     "Dammam", True),
    ("qassim-logistics", "Qassim Cold Chain Logistics", "qassimlogistics.example", "logistics",
     "medium", "Buraydah", False),
    ("yanbu-pharma", "Yanbu Pharmaceuticals", "yanbupharma.example", "pharmaceuticals",
     "medium", "Yanbu", True),
]  # fmt: skip

# email, first name, last name, title, organization, role, expertise
PEOPLE = [
    ("sara@gulfprecision.example", "Sara", "Al-Qahtani", "Plant Manager", "gulf-precision",
     "admin", ["lean manufacturing", "cnc machining"]),
    ("omar@gulfprecision.example", "Omar", "Haddad", "Maintenance Engineer", "gulf-precision",
     "member", ["predictive maintenance", "vibration analysis"]),
    ("lina@gulfprecision.example", "Lina", "Farouk", "Quality Engineer", "gulf-precision",
     "member", ["spc", "iso 9001"]),
    ("aisha@najdfoods.example", "Aisha", "Al-Harbi", "Operations Director", "najd-foods",
     "admin", ["food safety", "automation"]),
    ("khalid@najdfoods.example", "Khalid", "Al-Otaibi", "Quality Lead", "najd-foods", "member",
     ["haccp", "machine vision"]),
    ("fatimah@redseaplastics.example", "Fatimah", "Zahrani", "Owner", "red-sea-plastics",
     "admin", ["injection moulding", "energy efficiency"]),
    ("yousef@easternenergy.example", "Yousef", "Al-Dossary", "Reliability Manager",
     "eastern-energy", "admin", ["asset management", "iot"]),
    ("noura@easternenergy.example", "Noura", "Al-Mutairi", "Data Scientist", "eastern-energy",
     "member", ["machine learning", "predictive maintenance"]),
    ("faisal@qassimlogistics.example", "Faisal", "Al-Rashidi", "General Manager",
     "qassim-logistics", "admin", ["cold chain", "fleet telematics"]),
    ("maha@yanbupharma.example", "Maha", "Al-Ghamdi", "Production Head", "yanbu-pharma",
     "admin", ["gmp", "process optimization"]),
    ("tariq@yanbupharma.example", "Tariq", "Al-Subaie", "Automation Engineer", "yanbu-pharma",
     "member", ["plc", "scada"]),
]  # fmt: skip


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    description: str


@transaction.atomic
def seed_demo_accounts() -> list[DemoLogin]:
    """Create the demo organizations and people if missing; existing rows are left as they are."""
    organizations = {}
    for slug, name, domain, sector, size, city, verified in ORGANIZATIONS:
        organizations[slug], _ = Organization.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "email_domain": domain,
                "industry_sector": sector,
                "size": size,
                "city": city,
                "is_verified": verified,
            },
        )
    logins = []
    for email, first_name, last_name, title, org_slug, role, expertise in PEOPLE:
        organization = organizations[org_slug]
        if not User.objects.filter(email__iexact=email).exists():
            User.objects.create_user(
                email,
                DEMO_PASSWORD,
                first_name=first_name,
                last_name=last_name,
                job_title=title,
                expertise_tags=expertise,
                organization=organization,
                role=role,
                email_verified_at=timezone.now(),
            )
        logins.append(DemoLogin(email, DEMO_PASSWORD, f"{title}, {organization.name} ({role})"))
    staff_email = "moderator@p2psandbox.example"
    if not User.objects.filter(email__iexact=staff_email).exists():
        User.objects.create_superuser(
            staff_email,
            DEMO_PASSWORD,
            first_name="Platform",
            last_name="Moderator",
            email_verified_at=timezone.now(),
        )
    logins.append(DemoLogin(staff_email, DEMO_PASSWORD, "Platform moderator (staff, admin site)"))
    return logins
