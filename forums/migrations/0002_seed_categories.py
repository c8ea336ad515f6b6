from django.db import migrations

CATEGORIES = [
    ("Automation", "automation", "PLCs, robotics, line automation and control systems."),
    ("Quality Management", "quality-management", "Inspection, SPC, ISO systems and defects."),
    ("Maintenance", "maintenance", "Preventive and predictive maintenance, reliability, CMMS."),
    (
        "Artificial Intelligence",
        "artificial-intelligence",
        "Machine learning, computer vision and AI on the shop floor.",
    ),
    ("IoT", "iot", "Sensors, connectivity, edge devices and industrial data platforms."),
    (
        "Energy Efficiency",
        "energy-efficiency",
        "Energy monitoring, savings projects and sustainability.",
    ),
    ("General", "general", "Everything else about running a factory."),
]


def create_categories(apps, schema_editor):
    Category = apps.get_model("forums", "Category")
    for position, (name, slug, description) in enumerate(CATEGORIES):
        Category.objects.get_or_create(
            slug=slug, defaults={"name": name, "description": description, "position": position}
        )


class Migration(migrations.Migration):
    dependencies = [("forums", "0001_initial")]

    operations = [migrations.RunPython(create_categories, migrations.RunPython.noop)]
