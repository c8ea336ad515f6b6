from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

# Latin or Arabic letters (with Arabic diacritics), spaces, hyphens and apostrophes.
person_name_validator = RegexValidator(
    r"^[A-Za-z\u00C0-\u024F\u0600-\u06FF\u0750-\u077F\u2019' -]+$",
    _("Use letters (Latin or Arabic), spaces, hyphens and apostrophes only."),
    code="invalid_name",
)


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
    # An uploaded logo waiting for the worker to check and re-encode it.
    logo_pending = models.CharField(max_length=255, blank=True, editable=False)
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
    first_name = models.CharField(max_length=50, blank=True, validators=[person_name_validator])
    last_name = models.CharField(max_length=50, blank=True, validators=[person_name_validator])
    job_title = models.CharField(max_length=100, blank=True)
    expertise_tags = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.ENGLISH)
    avatar = models.ImageField(upload_to="users/avatars/", blank=True)
    avatar_pending = models.CharField(max_length=255, blank=True, editable=False)
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
    email_verified_at = models.DateTimeField(null=True, blank=True)
    # Part of the session hash: raising it ends every session of the user at their next request.
    session_generation = models.PositiveIntegerField(default=0, editable=False)

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

    @property
    def is_email_verified(self) -> bool:
        return self.email_verified_at is not None

    def get_session_auth_hash(self) -> str:
        return salted_hmac(
            "accounts.User.get_session_auth_hash",
            f"{self.password}:{self.session_generation}",
            algorithm="sha256",
        ).hexdigest()


class EmailVerification(models.Model):
    """The current 6-digit code of a user who has not verified their address yet."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="email_verification")
    code_hash = models.CharField(max_length=64)
    sent_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    failed_attempts = models.PositiveSmallIntegerField(default=0)

    def __str__(self) -> str:
        return f"Verification for {self.user_id}"


class FailedLogin(models.Model):
    """One failed sign-in for an email address (existing or not), for the lockout.

    `device` is the id from the sign-in device cookie of the address's owner when the attempt
    came from a browser they signed in on before, and "" from anywhere else: each known device
    and the unknown devices together are locked out separately.
    """

    email = models.CharField(max_length=254, db_index=True)
    device = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.email} at {self.created_at:%Y-%m-%d %H:%M}"


class Invitation(models.Model):
    """An organization admin's single-use invitation, by email, valid for 7 days."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=8, choices=User.Role.choices, default=User.Role.MEMBER)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                condition=models.Q(accepted_at__isnull=True, cancelled_at__isnull=True),
                name="accounts_invitation_one_open_per_email",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization_id}"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.cancelled_at is None


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 is stored; the token is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
