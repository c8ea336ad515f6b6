from django.apps import AppConfig


class UseCasesConfig(AppConfig):
    name = "usecases"
    verbose_name = "Use cases"
