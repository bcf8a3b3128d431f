"""Admin pages of the budgets app: budgets and their ledger, each with row history.

Budgets are created and changed through ``budgets.api`` (the add and change forms and the activate /
deactivate / retire actions alike), so the admin follows the same rules as every other caller; an
``InvalidInput``/``Conflict``/``NotFound`` from it becomes an error message and nothing is saved. The ledger
(transactions and their reversals) is written only by redemptions and refunds: here it is read-only and never
deleted. Budgets are never deleted either (the ledger refers to them): deactivate or retire them instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from rollbook.budgets import api
from rollbook.budgets.models import Budget, Reversal, Transaction
from rollbook.core.admin import adopt_saved_instance
from rollbook.core.errors import Conflict, InvalidInput, NotFound

API_ERRORS = (InvalidInput, Conflict, NotFound)

# What an operator may give when creating a budget, and what may change afterwards (``api.update_budget``).
BUDGET_CREATE_FIELDS = [
    "customer",
    "catalog",
    "title",
    "access_method",
    "spend_limit_cents",
    "per_learner_spend_limit_cents",
    "per_learner_enrollment_limit",
    "start",
    "expiration",
    "late_redemption_allowed_until",
    "active",
]
BUDGET_CHANGEABLE_FIELDS = list(api.CHANGEABLE_FIELDS)  # what update_budget may change
BUDGET_FIXED_FIELDS = ["uuid", "customer", "catalog", "access_method", "spend_summary", "created", "modified"]


def dollars(cents: int | None) -> str:
    """Whole cents as US dollars for display: 4900 → "$49.00", -4900 → "-$49.00"."""
    if cents is None:
        return "-"
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def api_error_text(exc: Exception) -> str:
    """An api error as one line: field errors as ``field: message``, general ones as the message alone."""
    if isinstance(exc, InvalidInput):
        return "; ".join(
            " ".join(texts) if field == "non_field_errors" else f"{field}: {' '.join(texts)}"
            for field, texts in exc.errors.items()
        )
    return str(exc)


def run_each(
    modeladmin: admin.ModelAdmin, request: HttpRequest, objects: Iterable, call: Callable[[object], object], verb: str
) -> int:
    """Run ``call(obj)`` for each object in its own transaction, reporting each refusal; return the successes."""
    done = 0
    for obj in objects:
        try:
            with transaction.atomic():
                call(obj)
        except API_ERRORS as exc:
            modeladmin.message_user(request, f"{obj}: not {verb}: {api_error_text(exc)}", messages.ERROR)
        else:
            done += 1
    return done


class LedgerReadOnlyMixin:
    """Ledger rows are written by redemptions and refunds only: listed and viewed, never added, edited or deleted."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


# --- budgets -------------------------------------------------------------------------------------


@admin.register(Budget)
class BudgetAdmin(SimpleHistoryAdmin):
    """Budgets are created with ``api.create_budget`` (an assigned one gets its assignment configuration) and
    changed with ``api.update_budget``; customer, catalog and access method are fixed once created."""

    list_display = [
        "title",
        "customer",
        "access_method",
        "limit",
        "start",
        "expiration",
        "active",
        "retired",
        "transaction_count",
    ]
    list_filter = ["access_method", "active", "retired", "customer"]
    search_fields = ["title", "customer__name", "customer__slug", "=uuid"]
    list_select_related = ["customer", "catalog"]
    autocomplete_fields = ["customer", "catalog"]
    date_hierarchy = "start"
    actions = ["activate", "deactivate", "retire"]

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        try:
            with transaction.atomic():
                return super().changeform_view(request, object_id, form_url, extra_context)
        except API_ERRORS as exc:
            self.message_user(request, f"Not saved: {api_error_text(exc)}", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def get_queryset(self, request: HttpRequest) -> QuerySet[Budget]:
        return super().get_queryset(request).annotate(transactions_made=Count("transactions"))

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return BUDGET_CREATE_FIELDS
        return [*BUDGET_FIXED_FIELDS[:4], *BUDGET_CHANGEABLE_FIELDS, *BUDGET_FIXED_FIELDS[4:]]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [] if obj is None else BUDGET_FIXED_FIELDS

    @admin.display(description="spend limit", ordering="spend_limit_cents")
    def limit(self, budget: Budget) -> str:
        return dollars(budget.spend_limit_cents)

    @admin.display(description="transactions", ordering="transactions_made")
    def transaction_count(self, budget: Budget) -> int:
        return budget.transactions_made

    @admin.display(description="spend")
    def spend_summary(self, budget: Budget) -> str:
        spend = api.spend(budget)
        ledger = reverse("admin:budgets_transaction_changelist") + f"?budget__id__exact={budget.pk}"
        return format_html(
            '{} spent of {}, {} available (committed transactions net of refunds). <a href="{}">Ledger</a>',
            dollars(spend.spent_cents),
            dollars(spend.spend_limit_cents),
            dollars(spend.available_cents),
            ledger,
        )

    def save_model(self, request: HttpRequest, obj: Budget, form, change: bool) -> None:
        data = form.cleaned_data
        if change:
            changes = {name: data[name] for name in BUDGET_CHANGEABLE_FIELDS if name in form.changed_data}
            saved = api.update_budget(obj.uuid, **changes) if changes else obj
        else:
            values = {name: data.get(name) for name in BUDGET_CREATE_FIELDS if name != "customer"}
            saved = api.create_budget(data["customer"], **values)
        adopt_saved_instance(obj, saved)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the ledger refers to budgets: deactivate or retire instead

    def _set(self, request: HttpRequest, queryset: QuerySet[Budget], verb: str, **changes: bool) -> None:
        done = run_each(self, request, queryset, lambda budget: api.update_budget(budget.uuid, **changes), verb)
        self.message_user(request, f"{done} budget(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Activate the selected budgets")
    def activate(self, request: HttpRequest, queryset: QuerySet[Budget]) -> None:
        self._set(request, queryset, "activated", active=True)

    @admin.action(description="Deactivate the selected budgets (no new redemptions or allocations)")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Budget]) -> None:
        self._set(request, queryset, "deactivated", active=False)

    @admin.action(description="Retire the selected budgets (for good: no new redemptions or allocations)")
    def retire(self, request: HttpRequest, queryset: QuerySet[Budget]) -> None:
        self._set(request, queryset, "retired", retired=True)


# --- the ledger ----------------------------------------------------------------------------------


class ReversalInline(LedgerReadOnlyMixin, admin.TabularInline):
    """The transaction's refund, if it had one."""

    model = Reversal
    fields = ["uuid", "amount", "idempotency_key", "created"]
    readonly_fields = fields
    extra = 0

    @admin.display(description="amount")
    def amount(self, reversal: Reversal) -> str:
        return dollars(reversal.amount_cents)


TRANSACTION_FIELDS = [
    "uuid",
    "budget",
    "state",
    "amount",
    "learner",
    "content_key",
    "course_run",
    "course_enrollment",
    "enterprise_enrollment",
    "idempotency_key",
    "created",
    "modified",
]


@admin.register(Transaction)
class TransactionAdmin(LedgerReadOnlyMixin, SimpleHistoryAdmin):
    """Redemptions against budgets (negative amounts), with their refunds; read-only, never deleted."""

    list_display = ["uuid", "budget", "learner", "content_key", "amount", "state", "refunded", "created"]
    list_filter = ["state", "budget__customer", "budget"]
    search_fields = ["=uuid", "learner__username", "learner__email", "content_key", "idempotency_key"]
    list_select_related = ["budget", "learner", "reversal"]
    fields = TRANSACTION_FIELDS
    readonly_fields = TRANSACTION_FIELDS
    inlines = [ReversalInline]
    date_hierarchy = "created"
    ordering = ["-created", "-id"]
    show_full_result_count = False

    @admin.display(description="amount", ordering="amount_cents")
    def amount(self, row: Transaction) -> str:
        return dollars(row.amount_cents)

    @admin.display(description="refunded", boolean=True)
    def refunded(self, row: Transaction) -> bool:
        return hasattr(row, "reversal")


@admin.register(Reversal)
class ReversalAdmin(LedgerReadOnlyMixin, SimpleHistoryAdmin):
    """Refunds of committed transactions (positive amounts); read-only, never deleted."""

    list_display = ["uuid", "refunded_transaction", "budget", "amount", "created"]
    list_filter = ["transaction__budget__customer"]
    search_fields = ["=uuid", "=transaction__uuid", "transaction__learner__username", "transaction__content_key"]
    list_select_related = ["transaction__budget"]
    fields = ["uuid", "transaction", "amount", "idempotency_key", "created"]
    readonly_fields = fields
    ordering = ["-created", "-id"]

    @admin.display(description="transaction")
    def refunded_transaction(self, reversal: Reversal) -> str:
        return str(reversal.transaction.uuid)

    @admin.display(description="budget")
    def budget(self, reversal: Reversal) -> Budget:
        return reversal.transaction.budget

    @admin.display(description="amount", ordering="amount_cents")
    def amount(self, reversal: Reversal) -> str:
        return dollars(reversal.amount_cents)
