from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "rollbook.records"
    label = "records"
    verbose_name = "Learner records: grades and certificates"
