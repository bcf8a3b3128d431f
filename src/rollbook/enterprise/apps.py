from django.apps import AppConfig


class EnterpriseConfig(AppConfig):
    name = "rollbook.enterprise"
    label = "enterprise"
    verbose_name = "Enterprise customers, learners, licenses and default enrollments"

    def ready(self) -> None:
        from rollbook.enterprise import signals

        signals.connect()
