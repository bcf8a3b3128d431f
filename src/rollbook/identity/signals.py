"""Events the identity app publishes for apps above it.

``sso_link_saved`` is sent after the transaction that created, or confirmed, an SSO link commits
(every ``link_sso`` call, as upstream reacts to every save of a social-auth record), with
``link: SsoLinkSaved``. The programs app subscribes to link waiting program enrollments.

``user_created`` is sent after the transaction that created a user commits (never when it rolls back),
with ``user_id``, however the user was created (``api.create_user``, the CLI, the admin,
``User.objects.create_user``, API clients' service users); saves of raw fixture data do not count.
Receivers run after the commit: an error in one is logged and does not undo the creation. The
enterprise app subscribes to link the pending learners of the new user's email.
"""

from dataclasses import dataclass

from django.dispatch import Signal

sso_link_saved = Signal()
user_created = Signal()


@dataclass(frozen=True, slots=True)
class SsoLinkSaved:
    """What was linked: the provider (slug and organization id), the student key as given, and the user."""

    provider_slug: str
    organization_id: int | None
    external_user_key: str
    user_id: int


# Sent by ``identity.api.retire_user`` INSIDE its transaction, before the account's own data is
# replaced, with ``user_id``: each app replaces the personal data it keeps for that user, in live and
# history rows, so that retirement is all or nothing. A receiver that raises aborts the retirement.
user_retiring = Signal()
