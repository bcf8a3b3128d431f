"""Learner-credit budgets (enterprise-access subsidy access policies folded with their subsidy) and the
ledger of their transactions and reversals. Balance and spend are sums over the ledger, never counters.
"""

import uuid

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from rollbook.budgets.data import AccessMethod, TransactionState


def _choices(enum) -> list[tuple[str, str]]:
    return [(member.value, member.value) for member in enum]


class Budget(models.Model):
    """A customer's learner credit for a catalog: a spend limit in cents between two dates, with optional
    per-learner limits (a spend limit or an enrollment limit, never both), reached directly or by assignment.

    An assigned budget has no per-learner limits (upstream rule) and gets one assignment configuration.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey("enterprise.EnterpriseCustomer", on_delete=models.PROTECT, related_name="budgets")
    catalog = models.ForeignKey("enterprise.EnterpriseCatalog", on_delete=models.PROTECT, related_name="budgets")
    title = models.CharField(max_length=255)
    access_method = models.CharField(max_length=16, choices=_choices(AccessMethod), default=AccessMethod.DIRECT)
    spend_limit_cents = models.PositiveBigIntegerField()
    per_learner_spend_limit_cents = models.PositiveBigIntegerField(null=True, blank=True)
    per_learner_enrollment_limit = models.PositiveIntegerField(null=True, blank=True)
    start = models.DateTimeField()
    expiration = models.DateTimeField()
    late_redemption_allowed_until = models.DateTimeField(
        null=True, blank=True, help_text="Until then, learners may redeem runs whose enroll-by date has passed."
    )
    active = models.BooleanField(default=True)
    retired = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["customer", "-start", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(title__gt=""), name="budget_title_not_empty"),
            models.CheckConstraint(
                condition=models.Q(expiration__gt=models.F("start")), name="budget_expires_after_start"
            ),
            models.CheckConstraint(
                condition=models.Q(access_method__in=[m.value for m in AccessMethod]), name="budget_known_access_method"
            ),
            models.CheckConstraint(
                condition=models.Q(per_learner_spend_limit_cents__isnull=True)
                | models.Q(per_learner_enrollment_limit__isnull=True),
                name="budget_one_per_learner_limit",
            ),
            models.CheckConstraint(
                condition=~models.Q(access_method=AccessMethod.ASSIGNED)
                | models.Q(per_learner_spend_limit_cents__isnull=True, per_learner_enrollment_limit__isnull=True),
                name="assigned_budget_has_no_per_learner_limits",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Transaction(models.Model):
    """One redemption against a budget: a negative amount in cents for a learner's enrollment in a run."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    budget = models.ForeignKey(Budget, on_delete=models.PROTECT, related_name="transactions")
    idempotency_key = models.CharField(max_length=255, unique=True)
    amount_cents = models.BigIntegerField(help_text="Negative: money leaving the budget.")
    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    content_key = models.CharField(max_length=255, help_text="What was asked for (a course or run key).")
    course_run = models.ForeignKey("catalog.CourseRun", on_delete=models.PROTECT, related_name="+")
    course_enrollment = models.ForeignKey(
        "enrollments.CourseEnrollment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    enterprise_enrollment = models.ForeignKey(
        "enterprise.EnterpriseCourseEnrollment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    state = models.CharField(max_length=16, choices=_choices(TransactionState), default=TransactionState.CREATED)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_cents__lte=0), name="transaction_amount_not_positive"),
            models.CheckConstraint(
                condition=models.Q(state__in=[s.value for s in TransactionState]), name="transaction_known_state"
            ),
            models.CheckConstraint(
                condition=~models.Q(state=TransactionState.COMMITTED) | models.Q(course_enrollment__isnull=False),
                name="committed_transaction_has_enrollment",
            ),
        ]
        indexes = [
            models.Index(fields=["budget", "state"]),
            models.Index(fields=["budget", "learner", "state"]),
            models.Index(fields=["course_enrollment"]),
        ]

    def __str__(self) -> str:
        return f"{self.uuid} {self.amount_cents} ({self.state})"


class Reversal(models.Model):
    """The refund of a committed transaction: its amount back (positive), at most once per transaction."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    transaction = models.OneToOneField(Transaction, on_delete=models.PROTECT, related_name="reversal")
    idempotency_key = models.CharField(max_length=255, unique=True)
    amount_cents = models.BigIntegerField(help_text="Positive: the transaction's amount returned.")
    created = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_cents__gte=0), name="reversal_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.uuid} +{self.amount_cents}"
