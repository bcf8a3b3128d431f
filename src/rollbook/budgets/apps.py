from django.apps import AppConfig


class BudgetsConfig(AppConfig):
    name = "rollbook.budgets"
    label = "budgets"
    verbose_name = "Learner-credit budgets and their ledger"

    def ready(self) -> None:
        from rollbook.budgets import signals

        signals.connect()
