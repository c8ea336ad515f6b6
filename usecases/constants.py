"""Fixed lists of the use-case library: categories, budget ranges and Saudi industrial cities."""

from dataclasses import dataclass

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

TITLE_MIN_LENGTH = 10
TITLE_MAX_LENGTH = 100
ANSWER_MAX_LENGTH = 5000
MAX_TAGS = 10
TAG_MAX_LENGTH = 40
DEFAULT_CURRENCY = "SAR"
RELATED_LIMIT = 4


class Category(models.TextChoices):
    QUALITY_CONTROL = "quality_control", _("Quality Control")
    PREDICTIVE_MAINTENANCE = "predictive_maintenance", _("Predictive Maintenance")
    FACTORY_AUTOMATION = "factory_automation", _("Factory Automation")
    ARTIFICIAL_INTELLIGENCE = "artificial_intelligence", _("Artificial Intelligence")
    SUSTAINABILITY = "sustainability", _("Sustainability")
    PROCESS_OPTIMIZATION = "process_optimization", _("Process Optimization")
    SUPPLY_CHAIN = "supply_chain", _("Supply Chain")
    INNOVATION = "innovation", _("Innovation & R&D")
    TRAINING_AND_SAFETY = "training_and_safety", _("Training & Safety")
    ENERGY_EFFICIENCY = "energy_efficiency", _("Energy Efficiency")


class BudgetRange(models.TextChoices):
    UNDER_50K = "under_50k", _("Under 50k")
    FROM_50K_TO_250K = "50k_250k", _("50k to 250k")
    FROM_250K_TO_1M = "250k_1m", _("250k to 1M")
    OVER_1M = "over_1m", _("Over 1M")
    UNKNOWN = "unknown", _("Unknown")
    PREFER_NOT_TO_SAY = "prefer_not_to_say", _("Prefer not to say")


@dataclass(frozen=True)
class City:
    key: str
    name: str | Promise
    latitude: float
    longitude: float


CITIES: tuple[City, ...] = (
    City("riyadh", _("Riyadh"), 24.7136, 46.6753),
    City("jeddah", _("Jeddah"), 21.4858, 39.1925),
    City("dammam", _("Dammam"), 26.4207, 50.0888),
    City("jubail", _("Jubail"), 27.0046, 49.6460),
    City("yanbu", _("Yanbu"), 24.0895, 38.0618),
    City("rabigh", _("Rabigh"), 22.7986, 39.0349),
    City("al_khobar", _("Al Khobar"), 26.2172, 50.1971),
    City("dhahran", _("Dhahran"), 26.2361, 50.0393),
    City("ras_al_khair", _("Ras Al-Khair"), 27.4786, 49.2397),
    City("sudair", _("Sudair"), 25.6260, 45.6126),
    City("al_kharj", _("Al Kharj"), 24.1556, 47.3120),
    City("hail", _("Hail"), 27.5114, 41.7208),
    City("qassim", _("Qassim (Buraydah)"), 26.3260, 43.9750),
    City("medina", _("Medina"), 24.5247, 39.5692),
    City("mecca", _("Mecca"), 21.3891, 39.8579),
    City("tabuk", _("Tabuk"), 28.3838, 36.5550),
    City("jazan", _("Jazan"), 16.8894, 42.5706),
    City("abha", _("Abha"), 18.2164, 42.5053),
    City("al_ahsa", _("Al Ahsa (Hofuf)"), 25.3838, 49.5867),
    City("kaec", _("KAEC (King Abdullah Economic City)"), 22.4531, 39.1311),
)
CITIES_BY_KEY: dict[str, City] = {city.key: city for city in CITIES}
CITY_CHOICES: list[tuple[str, str | Promise]] = [(city.key, city.name) for city in CITIES]
