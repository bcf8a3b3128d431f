from django.apps import AppConfig


class AssignmentsConfig(AppConfig):
    name = "rollbook.assignments"
    label = "assignments"
    verbose_name = "Content assignments"

    def ready(self) -> None:
        from rollbook.assignments import signals

        signals.connect()
