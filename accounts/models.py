from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Organization(models.Model):
    """A factory or company. Every user belongs to one."""

    class Sector(models.TextChoices):
        MANUFACTURING = "manufacturing", _("Manufacturing")
        PETROCHEMICALS = "petrochemicals", _("Petrochemicals")
        ENERGY = "energy", _("Energy")
        LOGISTICS = "logistics", _("Logistics")
        FOOD_AND_BEVERAGE = "food_and_beverage", _("Food and beverage")
        PHARMACEUTICALS = "pharmaceuticals", _("Pharmaceuticals")
        AUTOMOTIVE = "automotive", _("Automotive")
        CONSTRUCTION = "construction", _("Construction materials")
        MINING = "mining", _("Mining and metals")
        TEXTILES = "textiles", _("Textiles")
        WATER = "water", _("Water and utilities")
        OTHER = "other", _("Other")

    class Size(models.TextChoices):
        STARTUP = "startup", _("Startup")
        SMALL = "small", _("Small (under 50)")
        MEDIUM = "medium", _("Medium (50-250)")
        LARGE = "large", _("Large (250-1000)")
        ENTERPRISE = "enterprise", _("Enterprise (over 1000)")

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    email_domain = models.CharField(
        max_length=253,
        unique=True,
        null=True,
        blank=True,
        help_text=_("Members sign up and are invited with addresses in this domain."),
    )
    industry_sector = models.CharField(
        max_length=32, choices=Sector.choices, default=Sector.MANUFACTURING
    )
    size = models.CharField(max_length=16, choices=Size.choices, default=Size.SMALL)
    city = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, default="SA", help_text=_("ISO 3166 code"))
    website = models.URLField(blank=True)
    logo = models.ImageField(upload_to="organizations/logos/", blank=True)
    is_verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email_domain=Lower("email_domain")),
                name="accounts_organization_email_domain_lowercase",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email__iexact=username)

    def _create_user(self, email: str, password: str | None, **fields: object) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.full_clean(exclude=["password", "organization"], validate_unique=False)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields: object) -> "User":
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields: object) -> "User":
        fields["is_staff"] = True
        fields["is_superuser"] = True
        return self._create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person on the platform. The email address is the login (case-insensitive)."""

    class Role(models.TextChoices):
        ADMIN = "admin", _("Organization admin")
        MEMBER = "member", _("Member")

    class Language(models.TextChoices):
        ENGLISH = "en", _("English")
        ARABIC = "ar", _("Arabic")

    email = models.EmailField(_("email address"), max_length=254, unique=True)
    first_name = models.CharField(max_length=50, blank=True)
    last_name = models.CharField(max_length=50, blank=True)
    job_title = models.CharField(max_length=100, blank=True)
    expertise_tags = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.ENGLISH)
    avatar = models.ImageField(upload_to="users/avatars/", blank=True)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="members",
        null=True,
        blank=True,
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    is_staff = models.BooleanField(
        default=False, help_text=_("Platform moderators and staff can use the admin site.")
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now, editable=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["first_name", "last_name", "email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.email

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self) -> str:
        return self.first_name or self.email

    @property
    def is_organization_admin(self) -> bool:
        return self.role == self.Role.ADMIN
