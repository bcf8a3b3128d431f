"""The enterprise app's reactions to other apps' events. Connected by ``EnterpriseConfig.ready()``.

- ``identity.signals.user_created`` → ``customers.link_pending_learners_for_user``: a new account takes
  over the pending learner rows of its email (and their pending enrollments are realized).
- ``identity.signals.sso_link_saved`` → when the link's provider serves a customer, the user becomes a
  linked, active learner of it (``customers.link_user``), and pending rows of the user's email elsewhere
  are linked too. Customers that are not active get no new learners this way.
- ``enrollments.signals.enrollments_changed`` → ``enrolling.mark_unenrolled``: deactivated course
  enrollments mark their enterprise enrollments unenrolled, reactivated ones clear the mark.
- ``identity.signals.user_retiring`` → ``customers.retire_learner_emails``: inside the retirement's
  transaction, the user's email is replaced in customer users and licenses (live and history rows).

The first three run after the sender's transaction committed: errors are logged, never raised to the
code that made the change. Errors in the retirement receiver abort the retirement.
"""

from __future__ import annotations

import logging
from typing import Any

from rollbook.enrollments.data import ChangeKind, EnrollmentChange
from rollbook.enrollments.signals import enrollments_changed
from rollbook.enterprise import customers, enrolling
from rollbook.identity import api as identity_api
from rollbook.identity.signals import SsoLinkSaved, sso_link_saved, user_created, user_retiring

logger = logging.getLogger(__name__)

REGISTRATION_DISPATCH_UID = "rollbook.enterprise.link_pending_learners_at_registration"
SSO_DISPATCH_UID = "rollbook.enterprise.link_learner_at_sso_sign_in"
ENROLLMENTS_DISPATCH_UID = "rollbook.enterprise.follow_course_enrollment_changes"
RETIREMENT_DISPATCH_UID = "rollbook.enterprise.retire_learner_emails"


def link_pending_learners_at_registration(sender: Any, user_id: int, **kwargs: Any) -> None:
    """Receiver of ``user_created``: the new account takes over the pending learner rows of its email."""
    try:
        customers.link_pending_learners_for_user(identity_api.get_user(id=user_id))
    except Exception:  # the account is created: linking problems are logged, not raised
        logger.exception("Linking the pending enterprise learners of the new user %s failed.", user_id)


def link_learner_at_sso_sign_in(sender: Any, link: SsoLinkSaved, **kwargs: Any) -> None:
    """Receiver of ``sso_link_saved``: a user signing in through a customer's identity provider becomes its
    active, linked learner; pending rows of the user's email (in any customer) are linked too."""
    try:
        customer = customers.customer_for_identity_provider(link.provider_slug)
        if customer is None or not customer.active:
            return
        user = identity_api.get_user(id=link.user_id)
        customers.link_user(customer, user, activate=True)
        customers.link_pending_learners_for_user(user)
    except Exception:  # the SSO link is saved: linking problems are logged, not raised
        logger.exception(
            "Linking user %s to the enterprise customer of the identity provider %s failed.",
            link.user_id,
            link.provider_slug,
        )


def follow_course_enrollment_changes(sender: Any, changes: list[EnrollmentChange], **kwargs: Any) -> None:
    """Receiver of ``enrollments_changed``: keep enterprise enrollments' ``unenrolled`` in step with their
    course enrollments (deactivated → unenrolled, reactivated → enrolled again)."""
    left = [change.enrollment_uuid for change in changes if change.kind == ChangeKind.DEACTIVATED]
    back = [change.enrollment_uuid for change in changes if change.kind == ChangeKind.REACTIVATED]
    try:
        if left:
            enrolling.mark_unenrolled(left, unenrolled=True)
        if back:
            enrolling.mark_unenrolled(back, unenrolled=False)
    except Exception:  # the enrollments changed and committed: a stale mark is logged, not raised
        logger.exception("Marking enterprise enrollments after %d course enrollment changes failed.", len(changes))


def retire_emails(sender: Any, user_id: int, **kwargs: Any) -> None:
    """Receiver of ``user_retiring``: replace the retiring account's email in enterprise rows (errors abort
    the retirement)."""
    customers.retire_learner_emails(user_id)


def connect() -> None:
    """Subscribe this app's receivers (idempotent)."""
    user_created.connect(link_pending_learners_at_registration, dispatch_uid=REGISTRATION_DISPATCH_UID)
    sso_link_saved.connect(link_learner_at_sso_sign_in, dispatch_uid=SSO_DISPATCH_UID)
    enrollments_changed.connect(follow_course_enrollment_changes, dispatch_uid=ENROLLMENTS_DISPATCH_UID)
    user_retiring.connect(retire_emails, dispatch_uid=RETIREMENT_DISPATCH_UID)
