from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "rollbook.core"
    label = "core"
    verbose_name = "Core: roles and scopes"
