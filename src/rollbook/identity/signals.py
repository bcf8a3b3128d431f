"""Events the identity app publishes for apps above it.

``sso_link_saved`` is sent after the transaction that created, or confirmed, an SSO link commits
(every ``link_sso`` call, as upstream reacts to every save of a social-auth record), with
``link: SsoLinkSaved``. The programs app subscribes to link waiting program enrollments.
"""

from dataclasses import dataclass

from django.dispatch import Signal

sso_link_saved = Signal()


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
