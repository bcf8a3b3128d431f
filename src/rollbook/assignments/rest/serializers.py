"""Request and response shapes of the assignment and policy REST API (enterprise-access shapes).

Request serializers check shape only (types, required fields, ranges); the rules live in ``assignments.api``
and ``budgets.api``. Response serializers describe (and render) the dicts the views build.
"""

from __future__ import annotations

from rest_framework import serializers

from rollbook.assignments.data import ActionError, ActionType, AssignmentState, ExpiryReason, LearnerState
from rollbook.assignments.models import EMAIL_MAX_LENGTH
from rollbook.budgets.data import TransactionState

CONTENT_KEY_MAX_LENGTH = 255
# Larger prices or day counts are mistakes; refusing them keeps huge numbers away from the database.
PRICE_MAX_CENTS = 10**12
DAYS_MAX = 3650


def _values(enum) -> list[str]:
    return [member.value for member in enum]


# --- requests ------------------------------------------------------------------------------------------


class UuidTextField(serializers.UUIDField):
    """A uuid written as text (DRF's UUIDField would also take a number as the uuid's integer value)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class AssignmentUuidsSerializer(serializers.Serializer):
    """The assignments to act on (at most ROLLBOOK_BULK_MAX_ITEMS)."""

    assignment_uuids = serializers.ListField(child=UuidTextField(), allow_empty=False)


class NudgeRequestSerializer(AssignmentUuidsSerializer):
    """Accepted assignments to nudge, and how many days before their run's start that must be today."""

    days_before_course_start_date = serializers.IntegerField(min_value=1, max_value=DAYS_MAX)


class AllocateRequestSerializer(serializers.Serializer):
    """Who gets ``content_key`` (emails, matched ignoring case) and at what price."""

    learner_emails = serializers.ListField(
        child=serializers.EmailField(max_length=EMAIL_MAX_LENGTH),
        allow_empty=False,
        help_text="At most max(10000, ROLLBOOK_BULK_MAX_ITEMS) addresses; repeats (any case) count once.",
    )
    content_key = serializers.CharField(
        max_length=CONTENT_KEY_MAX_LENGTH, help_text="A course (ORG+CODE or catalog-course:ORG:CODE) or a run key."
    )
    content_price_cents = serializers.IntegerField(
        min_value=0, max_value=PRICE_MAX_CENTS, help_text="Within 5% of the content's list price."
    )


class RedeemRequestSerializer(serializers.Serializer):
    """What to redeem, and for whom (the caller unless an operator names someone)."""

    lms_user_id = serializers.IntegerField(
        required=False, min_value=1, help_text="The learner: the caller's own id (operators: anyone's)."
    )
    content_key = serializers.CharField(max_length=CONTENT_KEY_MAX_LENGTH, help_text="A course or run key.")
    metadata = serializers.DictField(required=False, help_text="Accepted for compatibility; not stored.")


# --- assignments ---------------------------------------------------------------------------------------


class ActionSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    action_type = serializers.ChoiceField(choices=_values(ActionType))
    completed_at = serializers.DateTimeField(allow_null=True)
    error_reason = serializers.ChoiceField(choices=_values(ActionError), allow_null=True)


class EarliestExpirationSerializer(serializers.Serializer):
    date = serializers.DateTimeField()
    reason = serializers.ChoiceField(choices=_values(ExpiryReason))


class AssignmentSerializer(serializers.Serializer):
    """A learner content assignment (the upstream fields, without the ``*_at`` dates)."""

    uuid = serializers.UUIDField()
    assignment_configuration = serializers.UUIDField()
    learner_email = serializers.CharField()
    lms_user_id = serializers.IntegerField(allow_null=True)
    content_key = serializers.CharField()
    parent_content_key = serializers.CharField(allow_null=True)
    is_assigned_course_run = serializers.BooleanField()
    content_title = serializers.CharField(allow_blank=True)
    content_quantity = serializers.IntegerField(help_text="The negative price in cents.")
    state = serializers.CharField(help_text=", ".join(_values(AssignmentState)) + ".")
    preferred_course_run_key = serializers.CharField(allow_null=True)
    allocation_batch_id = serializers.UUIDField(allow_null=True)
    created = serializers.DateTimeField()
    modified = serializers.DateTimeField()
    actions = ActionSerializer(many=True, help_text="Oldest first.")
    earliest_possible_expiration = EarliestExpirationSerializer(
        allow_null=True,
        help_text="Allocated: when it will expire if not accepted, and which date decides; expired: when and why "
        "it did; otherwise null.",
    )


class RecentActionSerializer(serializers.Serializer):
    action_type = serializers.CharField(help_text="assigned or reminded.")
    timestamp = serializers.DateTimeField()


class ErrorReasonSerializer(serializers.Serializer):
    action_type = serializers.ChoiceField(choices=_values(ActionType), allow_null=True)
    error_reason = serializers.ChoiceField(choices=_values(ActionError))


class AdminAssignmentSerializer(AssignmentSerializer):
    """An assignment as administrators list it."""

    recent_action = RecentActionSerializer(help_text="The later of the allocation and the newest reminder.")
    learner_state = serializers.ChoiceField(choices=_values(LearnerState), allow_null=True)
    learner_state_sort_order = serializers.IntegerField()
    error_reason = ErrorReasonSerializer(
        allow_null=True, help_text="The newest failed action since the latest allocation, if any."
    )


class LearnerAssignmentSerializer(AssignmentSerializer):
    """An assignment as its learner sees it."""

    learner_acknowledged = serializers.BooleanField(
        help_text="The learner acknowledged its cancellation or expiry (after the newest of those)."
    )


class LearnerStateCountSerializer(serializers.Serializer):
    learner_state = serializers.ChoiceField(choices=_values(LearnerState))
    count = serializers.IntegerField()


class _PageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    num_pages = serializers.IntegerField()
    current_page = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class AdminAssignmentPageSerializer(_PageSerializer):
    results = AdminAssignmentSerializer(many=True)
    learner_state_counts = LearnerStateCountSerializer(
        many=True, help_text="Over every assignment the filters select (not only this page), most first."
    )


class LearnerAssignmentPageSerializer(_PageSerializer):
    results = LearnerAssignmentSerializer(many=True)


# --- bulk actions --------------------------------------------------------------------------------------


class RefusalSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    reason = serializers.CharField(help_text="not_found, or the state that does not allow it.")


class CancelResultSerializer(serializers.Serializer):
    cancelled = serializers.ListField(child=serializers.UUIDField(), help_text="Already cancelled ones included.")


class CancelRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    non_cancelable = RefusalSerializer(many=True)


class RemindResultSerializer(serializers.Serializer):
    reminded = serializers.ListField(child=serializers.UUIDField())


class RemindRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    non_remindable = RefusalSerializer(many=True)


class BulkCountSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="How many assignments were cancelled or reminded.")


class NudgeResultSerializer(serializers.Serializer):
    nudged_assignment_uuids = serializers.ListField(child=serializers.UUIDField())
    unnudged_assignment_uuids = serializers.ListField(child=serializers.UUIDField())


class ErrorMessageSerializer(serializers.Serializer):
    error_message = serializers.CharField()


class AcknowledgeResultSerializer(serializers.Serializer):
    acknowledged_assignments = serializers.ListField(child=serializers.UUIDField())
    already_acknowledged_assignments = serializers.ListField(child=serializers.UUIDField())
    unacknowledged_assignments = serializers.ListField(child=serializers.UUIDField())


# --- policies ------------------------------------------------------------------------------------------


class ReasonMetadataSerializer(serializers.Serializer):
    enterprise_administrators = serializers.ListField(child=serializers.DictField())


class ReasonSerializer(serializers.Serializer):
    """Why one or more budgets refused."""

    reason = serializers.CharField(help_text="The upstream reason string, e.g. policy_spend_limit_reached.")
    user_message = serializers.CharField()
    metadata = ReasonMetadataSerializer()
    policy_uuids = serializers.ListField(child=serializers.UUIDField())


class AllocationCountsSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    no_change = serializers.IntegerField()


class AllocationResultSerializer(serializers.Serializer):
    """Assignment uuids (not whole assignments, unlike upstream: 10,000 per call is normal) and counts."""

    created = serializers.ListField(child=serializers.UUIDField(), help_text="New assignments.")
    updated = serializers.ListField(
        child=serializers.UUIDField(), help_text="Cancelled, errored, expired or reversed ones allocated again."
    )
    no_change = serializers.ListField(
        child=serializers.UUIDField(), help_text="Already allocated (not emailed again) or accepted: untouched."
    )
    counts = AllocationCountsSerializer()


class PolicySerializer(serializers.Serializer):
    """A budget in the shape of an enterprise-access subsidy access policy."""

    uuid = serializers.UUIDField()
    policy_type = serializers.CharField(
        help_text="AssignedLearnerCreditAccessPolicy, PerLearnerSpendCreditAccessPolicy or "
        "PerLearnerEnrollmentCreditAccessPolicy."
    )
    display_name = serializers.CharField()
    access_method = serializers.CharField()
    active = serializers.BooleanField()
    retired = serializers.BooleanField()
    enterprise_customer_uuid = serializers.UUIDField()
    catalog_uuid = serializers.UUIDField()
    spend_limit = serializers.IntegerField(help_text="Cents.")
    per_learner_spend_limit = serializers.IntegerField(allow_null=True)
    per_learner_enrollment_limit = serializers.IntegerField(allow_null=True)
    subsidy_active_datetime = serializers.DateTimeField()
    subsidy_expiration_datetime = serializers.DateTimeField()
    late_redemption_allowed_until = serializers.DateTimeField(allow_null=True)
    assignment_configuration = serializers.UUIDField(allow_null=True)


class CreditsAvailableSerializer(PolicySerializer):
    """A budget the learner can use now, with what is left of it."""

    remaining_balance = serializers.IntegerField(
        help_text="Cents left: the limit minus spend (minus allocations for assigned budgets)."
    )
    remaining_balance_per_user = serializers.IntegerField(
        allow_null=True, help_text="Cents the learner may still spend, with a per-learner spend limit."
    )
    subsidy_expiration_date = serializers.DateTimeField()
    learner_content_assignments = LearnerAssignmentSerializer(many=True)


class ListPriceSerializer(serializers.Serializer):
    usd = serializers.FloatField()
    usd_cents = serializers.IntegerField()


class ReversalSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    amount_cents = serializers.IntegerField()
    created = serializers.DateTimeField()


class TransactionSerializer(serializers.Serializer):
    """A ledger transaction (an enterprise-subsidy transaction)."""

    uuid = serializers.UUIDField()
    state = serializers.CharField(help_text=", ".join(_values(TransactionState)) + ": only committed ones spend.")
    idempotency_key = serializers.CharField()
    lms_user_id = serializers.IntegerField()
    content_key = serializers.CharField()
    course_run_key = serializers.CharField()
    amount_cents = serializers.IntegerField(help_text="Negative: money leaving the budget.")
    quantity = serializers.IntegerField(help_text="Same as amount_cents (the upstream name).")
    unit = serializers.CharField()
    subsidy_access_policy_uuid = serializers.UUIDField()
    course_enrollment_uuid = serializers.UUIDField(allow_null=True)
    reversal = ReversalSerializer(allow_null=True)
    created = serializers.DateTimeField()
    modified = serializers.DateTimeField()


class CanRedeemSerializer(serializers.Serializer):
    """Whether the learner can redeem one content key, and with which budget."""

    content_key = serializers.CharField()
    list_price = ListPriceSerializer(allow_null=True, help_text="Null when the key names nothing buyable.")
    redemptions = TransactionSerializer(many=True, help_text="The learner's transactions for this content.")
    has_successful_redemption = serializers.BooleanField()
    redeemable_subsidy_access_policy = PolicySerializer(allow_null=True)
    can_redeem = serializers.BooleanField()
    reasons = ReasonSerializer(many=True)
    display_reason = ReasonSerializer(allow_null=True, help_text="The reason to show: the first of ``reasons``.")
