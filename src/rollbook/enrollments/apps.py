from django.apps import AppConfig


class EnrollmentsConfig(AppConfig):
    name = "rollbook.enrollments"
    label = "enrollments"
    verbose_name = "Course enrollments"
