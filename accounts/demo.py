"""Demo organizations and people for `manage.py seed_demo`."""

from dataclasses import dataclass

from django.db import transaction

from accounts.models import Organization, User

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - published on purpose, DEBUG only

ORGANIZATIONS = [
    {
        "slug": "gulf-precision",
        "name": "Gulf Precision Industries",
        "email_domain": "gulfprecision.example",
        "industry_sector": Organization.Sector.MANUFACTURING,
        "size": Organization.Size.MEDIUM,
        "city": "Jubail",
        "is_verified": True,
    },
    {
        "slug": "najd-foods",
        "name": "Najd Foods Company",
        "email_domain": "najdfoods.example",
        "industry_sector": Organization.Sector.FOOD_AND_BEVERAGE,
        "size": Organization.Size.LARGE,
        "city": "Riyadh",
        "is_verified": True,
    },
    {
        "slug": "red-sea-plastics",
        "name": "Red Sea Plastics",
        "email_domain": "redseaplastics.example",
        "industry_sector": Organization.Sector.PETROCHEMICALS,
        "size": Organization.Size.SMALL,
        "city": "Jeddah",
        "is_verified": False,
    },
]

PEOPLE = [
    ("sara@gulfprecision.example", "Sara", "Al-Qahtani", "Plant Manager", "gulf-precision",
     "admin"),
    ("omar@gulfprecision.example", "Omar", "Haddad", "Maintenance Engineer", "gulf-precision",
     "member"),
    ("aisha@najdfoods.example", "Aisha", "Al-Harbi", "Operations Director", "najd-foods", "admin"),
    ("khalid@najdfoods.example", "Khalid", "Al-Otaibi", "Quality Lead", "najd-foods", "member"),
    ("fatimah@redseaplastics.example", "Fatimah", "Zahrani", "Owner", "red-sea-plastics", "admin"),
]  # fmt: skip


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    description: str


@transaction.atomic
def seed_demo_accounts() -> list[DemoLogin]:
    """Create the demo organizations and users if missing; existing rows are left as they are."""
    organizations = {}
    for fields in ORGANIZATIONS:
        defaults = {key: value for key, value in fields.items() if key != "slug"}
        organizations[fields["slug"]], _ = Organization.objects.get_or_create(
            slug=fields["slug"], defaults=defaults
        )
    logins = []
    for email, first_name, last_name, title, org_slug, role in PEOPLE:
        organization = organizations[org_slug]
        if not User.objects.filter(email__iexact=email).exists():
            User.objects.create_user(
                email,
                DEMO_PASSWORD,
                first_name=first_name,
                last_name=last_name,
                job_title=title,
                organization=organization,
                role=role,
            )
        logins.append(DemoLogin(email, DEMO_PASSWORD, f"{title}, {organization.name} ({role})"))
    staff_email = "moderator@p2psandbox.example"
    if not User.objects.filter(email__iexact=staff_email).exists():
        User.objects.create_superuser(
            staff_email, DEMO_PASSWORD, first_name="Platform", last_name="Moderator"
        )
    logins.append(DemoLogin(staff_email, DEMO_PASSWORD, "Platform moderator (staff, admin site)"))
    return logins
