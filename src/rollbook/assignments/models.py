"""Assignment configurations, learner content assignments and their actions.

Emails are stored as given and in a normalised column (``normalise_key``) that carries the uniqueness
rules. Money is integer cents; an assignment's ``content_quantity`` is the negative price.
"""

import uuid

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from rollbook.assignments.data import ActionError, ActionType, AssignmentState, ExpiryReason
from rollbook.core.normalise import normalise_key

EMAIL_MAX_LENGTH = 254
NORMALIZED_EMAIL_MAX_LENGTH = 3 * EMAIL_MAX_LENGTH


def _choices(enum) -> list[tuple[str, str]]:
    return [(member.value, member.value) for member in enum]


class AssignmentConfiguration(models.Model):
    """The assignment settings of one assigned budget; ``active`` False is a soft delete."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(
        "enterprise.EnterpriseCustomer", on_delete=models.PROTECT, related_name="assignment_configurations"
    )
    budget = models.OneToOneField("budgets.Budget", on_delete=models.PROTECT, related_name="assignment_configuration")
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.uuid} ({self.budget_id})"


class LearnerContentAssignment(models.Model):
    """Content an administrator assigned to a learner (by email) within an assigned budget."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    configuration = models.ForeignKey(AssignmentConfiguration, on_delete=models.PROTECT, related_name="assignments")
    learner_email = models.CharField(max_length=EMAIL_MAX_LENGTH)
    learner_email_normalized = models.CharField(max_length=NORMALIZED_EMAIL_MAX_LENGTH)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="content_assignments"
    )
    content_key = models.CharField(max_length=255, help_text="A course (ORG+CODE form) or a run key.")
    parent_content_key = models.CharField(
        max_length=255, null=True, blank=True, help_text="The run's course, for run assignments only."
    )
    is_assigned_course_run = models.BooleanField(default=False)
    content_title = models.CharField(max_length=255, blank=True, default="")
    content_quantity = models.BigIntegerField(help_text="The negative price in cents.")
    preferred_course_run_key = models.CharField(max_length=255, null=True, blank=True)
    state = models.CharField(max_length=16, choices=_choices(AssignmentState), default=AssignmentState.ALLOCATED)
    allocated_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    expiry_reason = models.CharField(max_length=32, choices=_choices(ExpiryReason), null=True, blank=True)
    errored_at = models.DateTimeField(null=True, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)
    transaction = models.ForeignKey(
        "budgets.Transaction", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    allocation_batch_id = models.UUIDField(null=True, blank=True)
    admin_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["configuration", "learner_email_normalized", "content_key"],
                name="unique_assignment_per_email_content",
            ),
            models.UniqueConstraint(
                fields=["configuration", "user", "content_key"],
                condition=models.Q(user__isnull=False),
                name="unique_assignment_per_user_content",
            ),
            models.CheckConstraint(
                condition=models.Q(content_quantity__lte=0), name="assignment_quantity_not_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=[s.value for s in AssignmentState]), name="assignment_known_state"
            ),
            models.CheckConstraint(condition=models.Q(learner_email_normalized__gt=""), name="assignment_has_email"),
            models.CheckConstraint(
                condition=~models.Q(state=AssignmentState.ACCEPTED) | models.Q(accepted_at__isnull=False),
                name="accepted_assignment_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["configuration", "state"]),
            models.Index(fields=["configuration", "content_key"]),
            models.Index(fields=["learner_email_normalized"]),
            models.Index(fields=["state", "allocated_at"]),
        ]

    def save(self, *args, **kwargs):
        self.learner_email = (self.learner_email or "").strip()
        self.learner_email_normalized = normalise_key(self.learner_email)
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.content_key} → {self.learner_email} ({self.state})"


class LearnerContentAssignmentAction(models.Model):
    """One thing that happened to an assignment: its type, when it completed, and why it failed if it did."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    assignment = models.ForeignKey(LearnerContentAssignment, on_delete=models.CASCADE, related_name="actions")
    action_type = models.CharField(max_length=32, choices=_choices(ActionType))
    completed_at = models.DateTimeField(null=True, blank=True)
    error_reason = models.CharField(max_length=32, choices=_choices(ActionError), null=True, blank=True)
    traceback = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action_type__in=[a.value for a in ActionType]), name="assignment_action_known_type"
            ),
        ]
        indexes = [models.Index(fields=["assignment", "action_type", "created"])]

    def __str__(self) -> str:
        return f"{self.assignment_id}: {self.action_type}"
