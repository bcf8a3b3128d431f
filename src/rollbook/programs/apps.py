from django.apps import AppConfig


class ProgramsConfig(AppConfig):
    name = "rollbook.programs"
    label = "programs"
    verbose_name = "Programs and program enrollments"

    def ready(self) -> None:
        from rollbook.programs import signals

        signals.connect()
