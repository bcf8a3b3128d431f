"""Admin pages of the assignments app: assignment configurations, learner content assignments and their
actions, each with row history.

Everything here is read-only: configurations come with their assigned budget, assignments are made by
allocation and change state only through ``assignments.api`` — which the admin actions call (cancel, remind),
so the state rules, the action rows and the emails are the same as through the REST API. Assignments and
their actions are never deleted (the actions are the audit trail; PII retirement scrubs emails instead).
"""

from __future__ import annotations

from collections import defaultdict

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from rollbook.assignments import api
from rollbook.assignments.data import AssignmentState
from rollbook.assignments.models import (
    AssignmentConfiguration,
    LearnerContentAssignment,
    LearnerContentAssignmentAction,
)
from rollbook.core.errors import Conflict, InvalidInput, NotFound

API_ERRORS = (InvalidInput, Conflict, NotFound)


def dollars(cents: int) -> str:
    """Whole cents as US dollars for display: 4900 → "$49.00"."""
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


class ReadOnlyAdminMixin:
    """Rows only ``assignments.api`` writes: listed and viewed with their history, changed by actions only."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _assignments_link(configuration: AssignmentConfiguration, text: str, **filters: str) -> str:
    url = reverse("admin:assignments_learnercontentassignment_changelist")
    query = "&".join([f"configuration__id__exact={configuration.pk}", *(f"{k}={v}" for k, v in filters.items())])
    return format_html('<a href="{}?{}">{}</a>', url, query, text)


# --- configurations ------------------------------------------------------------------------------


@admin.register(AssignmentConfiguration)
class AssignmentConfigurationAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    """One per assigned budget, made with the budget (``api.ensure_configuration``)."""

    list_display = ["uuid", "customer", "budget", "active", "allocated", "accepted", "assignment_total", "created"]
    list_filter = ["active", "customer"]
    search_fields = ["=uuid", "budget__title", "customer__name", "customer__slug"]
    list_select_related = ["customer", "budget"]
    fields = ["uuid", "customer", "budget", "active", "summary", "created", "modified"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[AssignmentConfiguration]:
        def of(state: AssignmentState) -> Count:
            return Count("assignments", filter=Q(assignments__state=state.value))

        return (
            super()
            .get_queryset(request)
            .annotate(
                allocated_count=of(AssignmentState.ALLOCATED),
                accepted_count=of(AssignmentState.ACCEPTED),
                assignment_count=Count("assignments"),
            )
        )

    @admin.display(description="allocated", ordering="allocated_count")
    def allocated(self, configuration: AssignmentConfiguration) -> int:
        return configuration.allocated_count

    @admin.display(description="accepted", ordering="accepted_count")
    def accepted(self, configuration: AssignmentConfiguration) -> int:
        return configuration.accepted_count

    @admin.display(description="assignments", ordering="assignment_count")
    def assignment_total(self, configuration: AssignmentConfiguration) -> int:
        return configuration.assignment_count

    @admin.display(description="assignments")
    def summary(self, configuration: AssignmentConfiguration) -> str:
        by_state = {row["state"]: row["n"] for row in configuration.assignments.values("state").annotate(n=Count("id"))}
        counts = ", ".join(f"{by_state.get(state.value, 0)} {state.value}" for state in AssignmentState)
        return format_html(
            "{}; {} of the budget held by allocated assignments. {}",
            counts,
            dollars(api.allocated_cents(configuration.budget)),
            _assignments_link(configuration, "Assignments"),
        )


# --- assignments ---------------------------------------------------------------------------------


class ActionInline(ReadOnlyAdminMixin, admin.TabularInline):
    """What happened to the assignment, oldest first: notifications, reminders, state changes, their failures."""

    model = LearnerContentAssignmentAction
    fields = ["action_type", "completed_at", "error_reason", "traceback_end", "created"]
    readonly_fields = fields
    ordering = ["created", "id"]
    extra = 0

    @admin.display(description="traceback (end)")
    def traceback_end(self, action: LearnerContentAssignmentAction) -> str:
        return action.traceback[-300:] if action.traceback else ""


ASSIGNMENT_FIELDS = [
    "uuid",
    "configuration",
    "learner_email",
    "user",
    "content_key",
    "parent_content_key",
    "is_assigned_course_run",
    "content_title",
    "price",
    "preferred_course_run_key",
    "state",
    "learner_view",
    "allocated_at",
    "accepted_at",
    "cancelled_at",
    "expired_at",
    "expiry_reason",
    "errored_at",
    "reversed_at",
    "transaction",
    "allocation_batch_id",
    "admin_user",
    "created",
    "modified",
]


@admin.register(LearnerContentAssignment)
class LearnerContentAssignmentAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    """Assignments as allocated; cancelled and reminded through ``assignments.api`` by the actions."""

    list_display = [
        "learner_email",
        "content_key",
        "state",
        "price",
        "configuration_customer",
        "allocated_at",
        "accepted_at",
        "modified",
    ]
    list_filter = ["state", "is_assigned_course_run", "expiry_reason", "configuration__customer", "configuration"]
    search_fields = ["=uuid", "learner_email_normalized", "content_key", "content_title", "user__username"]
    list_select_related = ["configuration__customer", "user"]
    fields = ASSIGNMENT_FIELDS
    readonly_fields = ASSIGNMENT_FIELDS
    inlines = [ActionInline]
    actions = ["cancel", "remind"]
    date_hierarchy = "allocated_at"
    ordering = ["-allocated_at", "-id"]
    show_full_result_count = False

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        # emails are matched through their normalised column, so the term is normalised the same way
        return super().get_search_results(request, queryset, search_term.strip().casefold())

    @admin.display(description="price", ordering="content_quantity")
    def price(self, assignment: LearnerContentAssignment) -> str:
        return dollars(-assignment.content_quantity)

    @admin.display(description="customer", ordering="configuration__customer__name")
    def configuration_customer(self, assignment: LearnerContentAssignment) -> object:
        return assignment.configuration.customer

    @admin.display(description="as the customer's administrators see it")
    def learner_view(self, assignment: LearnerContentAssignment) -> str:
        try:
            annotated = api.admin_assignments(assignment.configuration).filter(pk=assignment.pk).first()
        except NotFound:  # the configuration was soft-deleted
            annotated = None
        if annotated is None:
            return "-"
        parts = [f"learner state: {annotated.learner_state or '-'}"]
        parts.append(f"recent action: {annotated.recent_action} at {annotated.recent_action_time:%Y-%m-%d %H:%M} UTC")
        if annotated.error_reason:
            parts.append(f"error: {annotated.error_reason}")
        if assignment.state == AssignmentState.ALLOCATED:
            expiration = api.earliest_expiration(assignment)
            parts.append(f"expires {expiration.date:%Y-%m-%d} ({expiration.reason})")
        return "; ".join(parts)

    def _by_configuration(self, queryset: QuerySet[LearnerContentAssignment]) -> dict[int, list]:
        uuids: dict[int, list] = defaultdict(list)
        for configuration_id, assignment_uuid in queryset.values_list("configuration_id", "uuid"):
            uuids[configuration_id].append(assignment_uuid)
        return uuids

    def _apply(self, request: HttpRequest, queryset, call, verb: str) -> None:
        """Call ``call(configuration, uuids)`` once per configuration of the selection; report done and refused."""
        uuids_by_configuration = self._by_configuration(queryset)
        configurations = AssignmentConfiguration.objects.in_bulk(uuids_by_configuration.keys())
        done, refused = 0, {}
        for configuration_id, uuids in uuids_by_configuration.items():
            try:
                with transaction.atomic():
                    result = call(configurations[configuration_id], uuids)
            except API_ERRORS as exc:
                self.message_user(request, f"Not {verb}: {api_error_text(exc)}", messages.ERROR)
                continue
            done += len(result.done)
            refused.update(result.refused)
        self.message_user(request, f"{done} assignment(s) {verb}.", messages.SUCCESS)
        if refused:
            shown = ", ".join(
                f"{uuid}: {reason}" for uuid, reason in sorted(refused.items(), key=lambda item: str(item[0]))[:20]
            )
            self.message_user(request, f"{len(refused)} refused ({shown}).", messages.WARNING)

    @admin.action(description="Cancel the selected assignments (allocated or errored; the learner is emailed)")
    def cancel(self, request: HttpRequest, queryset: QuerySet[LearnerContentAssignment]) -> None:
        self._apply(request, queryset, api.cancel, "cancelled")

    @admin.action(description="Remind the learners of the selected allocated assignments (by email)")
    def remind(self, request: HttpRequest, queryset: QuerySet[LearnerContentAssignment]) -> None:
        self._apply(request, queryset, api.remind, "reminded")


@admin.register(LearnerContentAssignmentAction)
class LearnerContentAssignmentActionAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    """Every action of every assignment, to find failed emails across customers (filter "error reason")."""

    list_display = ["assignment", "action_type", "completed_at", "error_reason", "created"]
    list_filter = ["action_type", "error_reason", "assignment__configuration__customer"]
    search_fields = ["=assignment__uuid", "assignment__learner_email_normalized", "assignment__content_key"]
    list_select_related = ["assignment"]
    fields = ["uuid", "assignment", "action_type", "completed_at", "error_reason", "traceback", "created", "modified"]
    readonly_fields = fields
    ordering = ["-created", "-id"]
    show_full_result_count = False

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        return super().get_search_results(request, queryset, search_term.strip().casefold())
