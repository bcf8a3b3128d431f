"""The programs app's reactions to other apps' events (cross-app reactions that cannot be direct calls).

- ``identity.signals.sso_link_saved`` → ``linking.link_waiting_enrollments``: saving (creating or
  confirming) an SSO link ``provider:key`` links the waiting program enrollments of that key
  (the realization).
- ``identity.signals.user_retiring`` → ``retention.retire_external_keys``: retiring an account replaces
  its student keys in live and history rows, inside the retirement's transaction.

Connected by ``ProgramsConfig.ready()``.
"""

from __future__ import annotations

import logging
from typing import Any

from rollbook.identity.signals import SsoLinkSaved, sso_link_saved, user_retiring
from rollbook.programs.linking import link_waiting_enrollments
from rollbook.programs.retention import retire_external_keys

logger = logging.getLogger(__name__)

REALIZATION_DISPATCH_UID = "rollbook.programs.realize_waiting_enrollments"
RETIREMENT_DISPATCH_UID = "rollbook.programs.retire_student_keys"


def realize_waiting_enrollments(sender: Any, link: SsoLinkSaved, **kwargs: Any) -> None:
    """Receiver of ``sso_link_saved``: link the waiting program enrollments of the saved link's key.

    It runs after the SSO link committed; whatever goes wrong here is logged and never reaches the code
    that saved the link.
    """
    try:
        link_waiting_enrollments(link.provider_slug, link.organization_id, link.external_user_key, link.user_id)
    except Exception:  # the SSO link is saved: linking problems are logged, not raised
        logger.exception(
            "Linking the waiting program enrollments of %s:%r to user %s failed.",
            link.provider_slug,
            link.external_user_key,
            link.user_id,
        )


def retire_student_keys(sender: Any, user_id: int, **kwargs: Any) -> None:
    """Receiver of ``user_retiring``: replace the retiring account's student keys (errors abort the retirement)."""
    retire_external_keys(user_id)


def connect() -> None:
    """Subscribe this app's receivers (idempotent)."""
    sso_link_saved.connect(realize_waiting_enrollments, dispatch_uid=REALIZATION_DISPATCH_UID)
    user_retiring.connect(retire_student_keys, dispatch_uid=RETIREMENT_DISPATCH_UID)
