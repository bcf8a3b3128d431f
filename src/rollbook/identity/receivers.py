"""The identity app's receivers of its own models' signals, turning them into the app's public events.

- ``post_save`` of a new ``User`` → ``signals.user_created`` once the transaction commits. A model signal
  is the one place every way of creating a user passes through (``api.create_user``, the CLI, the admin,
  ``User.objects.create_user``); ``bulk_create`` does not send it, and identity never creates users so.

Connected by ``IdentityConfig.ready()``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save

from rollbook.identity.models import User
from rollbook.identity.signals import user_created

logger = logging.getLogger(__name__)

USER_CREATED_DISPATCH_UID = "rollbook.identity.announce_user_created"


def announce_user_created(
    sender: type[User], instance: User, created: bool, raw: bool = False, using: str | None = None, **kwargs: Any
) -> None:
    """Receiver of ``post_save`` on User: send ``user_created`` after the commit of the creating transaction."""
    if not created or raw:
        return
    user_id = instance.pk
    transaction.on_commit(lambda: send_user_created(user_id), using=using)


def send_user_created(user_id: int) -> None:
    """Send ``user_created`` for the user; a receiver's error is logged, the others still run."""
    for receiver, outcome in user_created.send_robust(sender=User, user_id=user_id):
        if isinstance(outcome, Exception):
            logger.error("user_created receiver %r failed for user %s", receiver, user_id, exc_info=outcome)


def connect() -> None:
    """Subscribe this app's receivers (idempotent)."""
    post_save.connect(announce_user_created, sender=User, dispatch_uid=USER_CREATED_DISPATCH_UID)
