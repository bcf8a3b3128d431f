"""Public API of the identity app: users, identity providers, SSO links and API clients.

Other apps, the REST layer, the admin and the CLI use only these functions. None of them checks
permissions: callers do.

Case rules: emails and external user keys are matched case-insensitively (through their
normalised columns); usernames are looked up exactly but a new username may not differ from an
existing one only by case; provider slugs are lower-case; client ids are looked up exactly but a new
one may not differ from an existing one only by case.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from uuid import UUID, uuid4

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import IntegrityError, models, transaction
from django.utils.crypto import salted_hmac

from rollbook.core import api as core_api
from rollbook.core.auth import IssuedToken, issue_token
from rollbook.core.data import Role, Scope
from rollbook.core.errors import Conflict, InvalidInput, NotFound
from rollbook.core.normalise import normalise_key
from rollbook.identity.data import (
    CLIENT_ID_MAX_LENGTH,
    CLIENT_ID_PATTERN,
    CLIENT_SECRET_BYTES,
    GENERATED_CLIENT_ID_BYTES,
    SERVICE_EMAIL_DOMAIN,
    SERVICE_USERNAME_PREFIX,
    TOKEN_SCOPES,
    TokenType,
)
from rollbook.identity.models import ApiClient, IdentityProvider, SsoLink, User
from rollbook.identity.signals import SsoLinkSaved, sso_link_saved, user_retiring

USERNAME_MAX_LENGTH = 150
EMAIL_MAX_LENGTH = 254
NAME_MAX_LENGTH = 150
PROVIDER_SLUG_MAX_LENGTH = 64
LONG_TEXT_MAX_LENGTH = 255
NAME_FIELDS = ("first_name", "last_name")


# --- users --------------------------------------------------------------------------------------


def _username_errors(username: str) -> list[str]:
    if not username:
        return ["A username is required."]
    if len(username) > USERNAME_MAX_LENGTH:
        return [f"A username has at most {USERNAME_MAX_LENGTH} characters."]
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError as exc:
        return list(exc.messages)
    return []


def _email_errors(email: str) -> list[str]:
    if not email:
        return ["An email address is required."]
    if len(email) > EMAIL_MAX_LENGTH:
        return [f"An email address has at most {EMAIL_MAX_LENGTH} characters."]
    try:
        validate_email(email)
    except ValidationError:
        return [f"{email!r} is not a valid email address."]
    return []


def _clean_names(names: dict[str, object]) -> tuple[dict[str, str], dict[str, list[str]]]:
    unknown = sorted(set(names) - set(NAME_FIELDS))
    if unknown:
        raise TypeError(f"Unknown user fields: {', '.join(unknown)} (accepted: {', '.join(NAME_FIELDS)}).")
    cleaned: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for field, value in names.items():
        text = "" if value is None else str(value).strip()
        if len(text) > NAME_MAX_LENGTH:
            errors[field] = [f"At most {NAME_MAX_LENGTH} characters."]
        cleaned[field] = text
    return cleaned, errors


def _password_errors(password: str, user: User) -> list[str]:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        return list(exc.messages)
    return []


def _taken_errors(
    *, username: str | None = None, email: str | None = None, exclude: User | None = None
) -> dict[str, list[str]]:
    """Field errors for a username or email already used by another user (one query each)."""
    others = User.objects.all() if exclude is None or exclude.pk is None else User.objects.exclude(pk=exclude.pk)
    errors: dict[str, list[str]] = {}
    if username and others.filter(username__iexact=username).exists():
        errors["username"] = [f"The username {username!r} is already taken."]
    if email and others.filter(email_normalized=normalise_key(email)).exists():
        errors["email"] = [f"A user with the email address {email!r} already exists."]
    return errors


def email_in_use(email: str, *, exclude: User | None = None) -> bool:
    """True when a user other than ``exclude`` has this email, compared ignoring case and surrounding blanks."""
    return "email" in _taken_errors(email=email, exclude=exclude)


def create_user(
    username: str, email: str, *, password: str | None = None, validate_password: bool = True, **names: str
) -> User:
    """Create and return an active user.

    ``names`` may hold ``first_name`` and ``last_name``. Without a password the user gets an
    unusable one (SSO or API use only). The password is checked against the configured validators
    unless ``validate_password`` is False. Raises InvalidInput naming each bad field: a malformed or
    taken ``username`` (taken also when it differs only by case), a malformed or taken ``email``
    (compared case-insensitively), a weak ``password``.
    """
    username = (username or "").strip()
    email = (email or "").strip()
    cleaned_names, errors = _clean_names(names)
    if username_errors := _username_errors(username):
        errors["username"] = username_errors
    if email_errors := _email_errors(email):
        errors["email"] = email_errors
    taken = _taken_errors(
        username=None if "username" in errors else username, email=None if "email" in errors else email
    )
    errors.update(taken)
    user = User(username=username, email=email, **cleaned_names)
    if password is not None and validate_password and (password_errors := _password_errors(password, user)):
        errors["password"] = password_errors
    if errors:
        raise InvalidInput(errors)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # lost a race with another writer of the same username or email
        raise InvalidInput(
            _taken_errors(username=username, email=email) or {"username": ["This user already exists."]}
        ) from None
    return user


def get_user(
    *, username: str | None = None, email: str | None = None, uuid: UUID | str | None = None, id: int | None = None
) -> User:
    """Return the user with exactly one of: this username (exact), email (any case), uuid or id.

    Raises NotFound when there is none, InvalidInput when the uuid or id is malformed, and
    TypeError unless exactly one identifier is given.
    """
    given = {
        name: value
        for name, value in (("username", username), ("email", email), ("uuid", uuid), ("id", id))
        if value is not None
    }
    if len(given) != 1:
        raise TypeError("get_user takes exactly one of username, email, uuid or id.")
    field, value = next(iter(given.items()))
    if field == "username":
        lookup = {"username": str(value).strip()}
    elif field == "email":
        lookup = {"email_normalized": normalise_key(str(value))}
    elif field == "uuid":
        try:
            lookup = {"uuid": value if isinstance(value, UUID) else UUID(str(value).strip())}
        except ValueError:
            raise InvalidInput({"uuid": [f"{value!r} is not a UUID."]}) from None
    else:
        try:
            lookup = {"pk": int(value)}
        except (TypeError, ValueError):
            raise InvalidInput({"id": [f"{value!r} is not a user id."]}) from None
    try:
        return User.objects.get(**lookup)
    except User.DoesNotExist:
        raise NotFound(f"No user with {field} {value!r}.") from None


def users_by_identifiers(values: Iterable[str]) -> dict[str, User]:
    """Resolve usernames and emails to users: ``{value as given: user}``; values matching no user are absent.

    A value matches a user by exact username first, else by email ignoring case and surrounding
    blanks. One query per ROLLBOOK_BULK_BATCH_SIZE distinct values.
    """
    distinct = [value for value in dict.fromkeys(values) if isinstance(value, str) and value.strip()]
    result: dict[str, User] = {}
    batch_size = settings.BULK_BATCH_SIZE
    for start in range(0, len(distinct), batch_size):
        batch = distinct[start : start + batch_size]
        usernames = {value.strip() for value in batch}
        emails = {normalise_key(value) for value in batch}
        by_username: dict[str, User] = {}
        by_email: dict[str, User] = {}
        for user in User.objects.filter(models.Q(username__in=usernames) | models.Q(email_normalized__in=emails)):
            by_username[user.username] = user
            by_email[user.email_normalized] = user
        for value in batch:
            user = by_username.get(value.strip()) or by_email.get(normalise_key(value))
            if user is not None:
                result[value] = user
    return result


def users_by_emails(emails: Iterable[str]) -> dict[str, User]:
    """``{normalised email: user}`` for the accounts whose email matches one of ``emails`` ignoring case and
    surrounding blanks (emails only, never usernames); unmatched emails are absent.

    One query per ROLLBOOK_BULK_BATCH_SIZE distinct emails.
    """
    normalized = sorted({normalise_key(email) for email in emails if isinstance(email, str) and email.strip()})
    result: dict[str, User] = {}
    batch_size = settings.BULK_BATCH_SIZE
    for start in range(0, len(normalized), batch_size):
        for user in User.objects.filter(email_normalized__in=normalized[start : start + batch_size]):
            result[user.email_normalized] = user
    return result


def users_by_ids(user_ids: Iterable[int]) -> dict[int, User]:
    """``{id: user}`` for the given ids that exist; one query per ROLLBOOK_BULK_BATCH_SIZE ids."""
    ids = sorted({user_id for user_id in user_ids if isinstance(user_id, int) and not isinstance(user_id, bool)})
    result: dict[int, User] = {}
    batch_size = settings.BULK_BATCH_SIZE
    for start in range(0, len(ids), batch_size):
        result.update(User.objects.in_bulk(ids[start : start + batch_size]))
    return result


def lock_user(user: User | int) -> None:
    """Lock the account's row until the current transaction ends, so that changes other apps make about one
    user (e.g. which enterprise customer is active) are serialised. Must be called inside a transaction."""
    user_id = user if isinstance(user, int) else user.pk
    list(User.objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True))


def update_user(
    user: User, *, email: str | None = None, first_name: str | None = None, last_name: str | None = None
) -> list[str]:
    """Change the given fields of ``user`` (None leaves a field alone); returns the names of the changed fields.

    Raises InvalidInput (field ``email``) for a malformed email or one another user has (any case).
    """
    changes: dict[str, str] = {}
    cleaned_names, errors = _clean_names(
        {name: value for name, value in (("first_name", first_name), ("last_name", last_name)) if value is not None}
    )
    for field, value in cleaned_names.items():
        if getattr(user, field) != value:
            changes[field] = value
    if email is not None:
        email = email.strip()
        if email_errors := _email_errors(email):
            errors["email"] = email_errors
        elif email != user.email:
            errors.update(_taken_errors(email=email, exclude=user))
            changes["email"] = email
    if errors:
        raise InvalidInput(errors)
    if changes:
        for field, value in changes.items():
            setattr(user, field, value)
        try:
            with transaction.atomic():
                user.save(update_fields=list(changes))
        except IntegrityError:
            raise InvalidInput({"email": [f"A user with the email address {email!r} already exists."]}) from None
    return sorted(changes)


def set_password(user: User, password: str | None, *, validate: bool = True) -> None:
    """Set ``user``'s password (None makes it unusable: no password login).

    Raises InvalidInput (field ``password``) when ``validate`` and the password fails the
    configured validators; refuses passwords for service accounts.
    """
    if user.is_service_account and password is not None:
        raise InvalidInput({"password": ["Service accounts cannot have a password; they use client credentials."]})
    if password is not None and validate and (errors := _password_errors(password, user)):
        raise InvalidInput({"password": errors})
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.save(update_fields=["password"])


def deactivate_user(user: User) -> bool:
    """Make ``user`` inactive: no login, and their tokens stop working. Returns False if already inactive."""
    if not user.is_active:
        return False
    user.is_active = False
    user.save(update_fields=["is_active"])
    return True


def activate_user(user: User) -> bool:
    """Make ``user`` active again. Returns False if already active."""
    if user.is_active:
        return False
    user.is_active = True
    user.save(update_fields=["is_active"])
    return True


def make_operator(user: User) -> list[str]:
    """Make ``user`` an operator who can use the Django admin: active, staff, superuser, operator role.

    Idempotent; returns a description of each change made (empty when nothing changed).
    Raises InvalidInput for service accounts (give API clients the operator role instead).
    """
    if user.is_service_account:
        raise InvalidInput({"username": ["A service account cannot become a staff operator."]})
    changes = []
    updated_fields = []
    for field, description in (
        ("is_active", "activated"),
        ("is_staff", "made staff"),
        ("is_superuser", "made superuser"),
    ):
        if not getattr(user, field):
            setattr(user, field, True)
            updated_fields.append(field)
            changes.append(description)
    with transaction.atomic():
        if updated_fields:
            user.save(update_fields=updated_fields)
        if core_api.grant(user, Role.OPERATOR):
            changes.append("granted the operator role")
    return changes


# --- identity providers -------------------------------------------------------------------------


def _normalise_slug(slug: str) -> str:
    return (slug or "").strip().lower()


def create_identity_provider(
    slug: str, name: str, *, organization: models.Model | None = None, enabled: bool = True
) -> IdentityProvider:
    """Create an identity provider. ``slug`` is stored lower-case; ``organization`` is a catalog Organization or None.

    Raises InvalidInput naming ``slug`` (malformed or taken), ``name`` (missing) or ``organization``
    (not saved).
    """
    slug = _normalise_slug(slug)
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not slug:
        errors["slug"] = ["A slug is required."]
    elif len(slug) > PROVIDER_SLUG_MAX_LENGTH:
        errors["slug"] = [f"A slug has at most {PROVIDER_SLUG_MAX_LENGTH} characters."]
    else:
        try:
            validate_slug(slug)
        except ValidationError:
            errors["slug"] = ["Use only letters, digits, '-' and '_'."]
    if "slug" not in errors and IdentityProvider.objects.filter(slug=slug).exists():
        errors["slug"] = [f"An identity provider {slug!r} already exists."]
    if not name:
        errors["name"] = ["A name is required."]
    elif len(name) > LONG_TEXT_MAX_LENGTH:
        errors["name"] = [f"A name has at most {LONG_TEXT_MAX_LENGTH} characters."]
    if organization is not None and organization.pk is None:
        errors["organization"] = ["The organization must be saved first."]
    if errors:
        raise InvalidInput(errors)
    try:
        with transaction.atomic():
            return IdentityProvider.objects.create(slug=slug, name=name, organization=organization, enabled=enabled)
    except IntegrityError:
        raise InvalidInput({"slug": [f"An identity provider {slug!r} already exists."]}) from None


def update_identity_provider(
    provider: IdentityProvider | str, *, name: str, organization: models.Model | None
) -> IdentityProvider:
    """Set the provider's (or provider slug's) display name and organization. Raises InvalidInput or NotFound."""
    provider = _provider(provider)
    name = (name or "").strip()
    if not name:
        raise InvalidInput({"name": ["A name is required."]})
    if len(name) > LONG_TEXT_MAX_LENGTH:
        raise InvalidInput({"name": [f"A name has at most {LONG_TEXT_MAX_LENGTH} characters."]})
    if organization is not None and organization.pk is None:
        raise InvalidInput({"organization": ["The organization must be saved first."]})
    new_org_id = None if organization is None else organization.pk
    if provider.name != name or provider.organization_id != new_org_id:
        provider.name = name
        provider.organization = organization
        provider.save(update_fields=["name", "organization", "modified"])
    return provider


def get_identity_provider(slug: str) -> IdentityProvider:
    """Return the provider with this slug (any case). Raises NotFound."""
    try:
        return IdentityProvider.objects.select_related("organization").get(slug=_normalise_slug(slug))
    except IdentityProvider.DoesNotExist:
        raise NotFound(f"No identity provider {slug!r}.") from None


def _provider(provider: IdentityProvider | str) -> IdentityProvider:
    return provider if isinstance(provider, IdentityProvider) else get_identity_provider(provider)


def _set_provider_enabled(provider: IdentityProvider | str, enabled: bool) -> IdentityProvider:
    provider = _provider(provider)
    if provider.enabled != enabled:
        provider.enabled = enabled
        provider.save(update_fields=["enabled", "modified"])
    return provider


def enable_identity_provider(provider: IdentityProvider | str) -> IdentityProvider:
    """Let the provider (or provider slug) be used for new SSO links again. Raises NotFound."""
    return _set_provider_enabled(provider, True)


def disable_identity_provider(provider: IdentityProvider | str) -> IdentityProvider:
    """Refuse new SSO links at the provider; existing links keep resolving. Raises NotFound."""
    return _set_provider_enabled(provider, False)


# --- SSO links ----------------------------------------------------------------------------------


def _clean_external_key(external_user_key: str) -> str:
    key = (external_user_key or "").strip() if isinstance(external_user_key, str) else ""
    if not key:
        raise InvalidInput({"external_user_key": ["An external user key is required."]})
    if len(key) > LONG_TEXT_MAX_LENGTH:
        raise InvalidInput({"external_user_key": [f"At most {LONG_TEXT_MAX_LENGTH} characters."]})
    return key


def check_sso_link(provider: IdentityProvider | str, external_user_key: str, user: User) -> SsoLink | None:
    """Check that ``user`` may be linked to ``external_user_key`` at ``provider``, without writing.

    Returns the existing link when exactly this link already exists (keys compared ignoring case),
    None when a new link may be made. Raises NotFound (unknown provider), InvalidInput (missing key,
    disabled provider, unsaved user) or Conflict (the key belongs to another user, or the user is
    linked at the provider with another key).
    """
    provider = _provider(provider)
    key = _clean_external_key(external_user_key)
    if user is None or user.pk is None:
        raise InvalidInput({"user": ["A saved user is required."]})
    normalized = normalise_key(key)
    links = SsoLink.objects.filter(provider=provider).filter(
        models.Q(external_user_key_normalized=normalized) | models.Q(user=user)
    )
    for link in links:
        if link.external_user_key_normalized == normalized and link.user_id == user.pk:
            return link
        if link.external_user_key_normalized == normalized:
            raise Conflict(f"The key {key!r} at {provider.slug} is already linked to another user.")
        raise Conflict(
            f"This user is already linked at {provider.slug} with the key {link.external_user_key!r}; unlink it first."
        )
    if not provider.enabled:
        raise InvalidInput({"provider": [f"The identity provider {provider.slug} is disabled."]})
    return None


def link_sso(provider: IdentityProvider | str, external_user_key: str, user: User) -> SsoLink:
    """Link ``user`` to ``external_user_key`` at ``provider`` (a provider or its slug); idempotent.

    Returns the new or existing link, and announces it with ``signals.sso_link_saved`` once the
    transaction commits (also when the link already existed). Raises as ``check_sso_link`` does.
    """
    provider = _provider(provider)
    link = check_sso_link(provider, external_user_key, user)
    if link is None:
        try:
            with transaction.atomic():
                link = SsoLink(provider=provider, external_user_key=_clean_external_key(external_user_key), user=user)
                link.save()
        except IntegrityError:  # another writer linked the key or the user in the meantime
            raise Conflict(f"The key {external_user_key!r} or this user was just linked at {provider.slug}.") from None
    event = SsoLinkSaved(provider.slug, provider.organization_id, link.external_user_key, user.pk)
    transaction.on_commit(lambda: sso_link_saved.send(sender=SsoLink, link=event))
    return link


def unlink_sso(
    provider: IdentityProvider | str, *, user: User | None = None, external_user_key: str | None = None
) -> bool:
    """Remove the link of ``user``, or of ``external_user_key`` (any case), at ``provider``.

    Exactly one of them must be given (TypeError otherwise). Returns False when there was no link.
    Raises NotFound for an unknown provider.
    """
    if (user is None) == (external_user_key is None):
        raise TypeError("unlink_sso takes exactly one of user or external_user_key.")
    provider = _provider(provider)
    links = SsoLink.objects.filter(provider=provider)
    if user is not None:
        links = links.filter(user=user)
    else:
        links = links.filter(external_user_key_normalized=normalise_key(external_user_key))
    link = links.first()
    if link is None:
        return False
    link.delete()
    return True


def _users_for_normalized_keys(provider_slug: str, normalized_keys: list[str]) -> dict[str, User]:
    result: dict[str, User] = {}
    batch_size = settings.BULK_BATCH_SIZE
    for start in range(0, len(normalized_keys), batch_size):
        links = SsoLink.objects.filter(
            provider__slug=_normalise_slug(provider_slug),
            external_user_key_normalized__in=normalized_keys[start : start + batch_size],
        ).select_related("user")
        for link in links:
            result[link.external_user_key_normalized] = link.user
    if normalized_keys and not result:
        get_identity_provider(provider_slug)  # an unknown provider is an error, not "nobody is linked"
    return result


def user_for_external_key(provider_slug: str, external_user_key: str) -> User | None:
    """The user linked to ``external_user_key`` (any case) at the provider, or None.

    Raises NotFound for an unknown provider. Works for disabled providers too.
    """
    key = normalise_key(external_user_key) if isinstance(external_user_key, str) else ""
    if not key:
        get_identity_provider(provider_slug)
        return None
    return _users_for_normalized_keys(provider_slug, [key]).get(key)


def users_for_external_keys(provider_slug: str, external_user_keys: Iterable[str]) -> dict[str, User]:
    """``{normalised key: user}`` for the keys linked at the provider; unlinked keys are absent.

    Keys are normalised with ``rollbook.core.normalise.normalise_key`` (trimmed, casefolded); use it
    to look results up. One query per ROLLBOOK_BULK_BATCH_SIZE keys (plus one when nothing matches,
    to tell an unknown provider, which raises NotFound, from no links).
    """
    keys = list(dict.fromkeys(normalise_key(k) for k in external_user_keys if isinstance(k, str)))
    keys = [key for key in keys if key]
    if not keys:
        get_identity_provider(provider_slug)
        return {}
    return _users_for_normalized_keys(provider_slug, keys)


def external_keys_for_users(provider_slug: str, users: Iterable[User | int]) -> dict[int, str]:
    """``{user id: external key as stored}`` for the given users (or ids) linked at the provider.

    One query per ROLLBOOK_BULK_BATCH_SIZE users. Raises NotFound for an unknown provider.
    """
    provider = get_identity_provider(provider_slug)
    ids = sorted({user if isinstance(user, int) else user.pk for user in users})
    result: dict[int, str] = {}
    batch_size = settings.BULK_BATCH_SIZE
    for start in range(0, len(ids), batch_size):
        rows = SsoLink.objects.filter(provider=provider, user_id__in=ids[start : start + batch_size])
        result.update(rows.values_list("user_id", "external_user_key"))
    return result


# --- API clients --------------------------------------------------------------------------------


def _client_id_errors(client_id: str) -> list[str]:
    if not client_id:
        return ["A client id is required."]
    if len(client_id) > CLIENT_ID_MAX_LENGTH:
        return [f"A client id has at most {CLIENT_ID_MAX_LENGTH} characters."]
    if not re.fullmatch(CLIENT_ID_PATTERN, client_id):
        return ["Use only letters, digits, '.', '_' and '-'."]
    if ApiClient.objects.filter(client_id__iexact=client_id).exists():
        return [f"The client id {client_id!r} is already taken."]
    if User.objects.filter(username__iexact=SERVICE_USERNAME_PREFIX + client_id).exists():
        return [f"The client id {client_id!r} clashes with the existing user {SERVICE_USERNAME_PREFIX + client_id!r}."]
    return []


def _new_secret() -> str:
    return secrets.token_urlsafe(CLIENT_SECRET_BYTES)


def validate_api_client(
    name: str,
    *,
    roles: Iterable[tuple[Role | str, Scope | str | None]] = (),
    client_id: str | None = None,
) -> tuple[str, str | None, list[tuple[Role, Scope]]]:
    """Check a would-be API client without writing: returns the cleaned name, client id and (role, scope) grants.

    ``roles`` pairs each role with its scope (a Scope, ``kind:key`` text, or None for operator and
    learner). Raises InvalidInput naming ``name``, ``client_id`` (malformed, or taken ignoring case) or ``roles``.
    """
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["A name is required."]
    elif len(name) > LONG_TEXT_MAX_LENGTH:
        errors["name"] = [f"A name has at most {LONG_TEXT_MAX_LENGTH} characters."]
    if client_id is not None:
        client_id = client_id.strip()
        if client_id_errors := _client_id_errors(client_id):
            errors["client_id"] = client_id_errors
    grants: list[tuple[Role, Scope]] = []
    role_errors: list[str] = []
    for role, scope in roles:
        try:
            grants.append(core_api.parse_role_and_scope(role, scope))
        except InvalidInput as exc:
            label = f"{role} {scope or ''}".strip()
            role_errors.extend(f"{label}: {message}" for messages in exc.errors.values() for message in messages)
    if role_errors:
        errors["roles"] = role_errors
    if errors:
        raise InvalidInput(errors)
    return name, client_id, grants


def create_api_client(
    name: str,
    *,
    roles: Iterable[tuple[Role | str, Scope | str | None]] = (),
    client_id: str | None = None,
) -> tuple[ApiClient, str]:
    """Create an OAuth2 client-credentials client and its service user holding ``roles``.

    Arguments are checked as ``validate_api_client`` does (InvalidInput; nothing is written then).
    A client id is generated when none is given. Returns the client and its secret: only a hash of
    the secret is stored, so it cannot be shown again.
    """
    name, client_id, grants = validate_api_client(name, roles=roles, client_id=client_id)
    if client_id is None:
        client_id = secrets.token_urlsafe(GENERATED_CLIENT_ID_BYTES)
    secret = _new_secret()
    service_uuid = uuid4()
    try:
        with transaction.atomic():
            user = User(
                uuid=service_uuid,
                username=SERVICE_USERNAME_PREFIX + client_id,
                email=f"{service_uuid.hex}@{SERVICE_EMAIL_DOMAIN}",
                first_name=name[:NAME_MAX_LENGTH],
                is_service_account=True,
            )
            user.set_unusable_password()
            user.save()
            client = ApiClient.objects.create(
                client_id=client_id, name=name, user=user, secret_hash=make_password(secret)
            )
            for role, scope in grants:
                core_api.grant(user, role, scope)
    except IntegrityError:
        raise InvalidInput({"client_id": [f"The client id {client_id!r} is already taken."]}) from None
    return client, secret


def rename_api_client(client: ApiClient | str, name: str) -> ApiClient:
    """Give the client (or client id) a new display name. Raises InvalidInput (field ``name``) or NotFound."""
    client = _client(client)
    name = (name or "").strip()
    if not name:
        raise InvalidInput({"name": ["A name is required."]})
    if len(name) > LONG_TEXT_MAX_LENGTH:
        raise InvalidInput({"name": [f"A name has at most {LONG_TEXT_MAX_LENGTH} characters."]})
    if client.name != name:
        client.name = name
        client.save(update_fields=["name", "modified"])
    return client


def get_api_client(client_id: str) -> ApiClient:
    """Return the client with exactly this client id. Raises NotFound."""
    try:
        return ApiClient.objects.select_related("user").get(client_id=(client_id or "").strip())
    except ApiClient.DoesNotExist:
        raise NotFound(f"No API client {client_id!r}.") from None


def list_api_clients(*, active: bool | None = None) -> list[ApiClient]:
    """Every API client (only active or inactive ones when ``active`` is given), by name, in one query."""
    clients = ApiClient.objects.select_related("user").order_by("name", "client_id")
    if active is not None:
        clients = clients.filter(is_active=active)
    return list(clients)


def _client(client: ApiClient | str) -> ApiClient:
    return client if isinstance(client, ApiClient) else get_api_client(client)


def rotate_client_secret(client: ApiClient | str) -> str:
    """Give the client (or client id) a new secret and return it; the old secret stops working at once.

    Tokens already issued stay valid until they expire (deactivate the client to stop them).
    Raises NotFound for an unknown client id.
    """
    client = _client(client)
    secret = _new_secret()
    client.secret_hash = make_password(secret)
    client.save(update_fields=["secret_hash", "modified"])
    return secret


def deactivate_api_client(client: ApiClient | str) -> ApiClient:
    """Stop the client: no new tokens, and its service user becomes inactive so issued tokens stop working.

    Idempotent. Raises NotFound for an unknown client id.
    """
    return _set_client_active(_client(client), False)


def activate_api_client(client: ApiClient | str) -> ApiClient:
    """Let a deactivated client get tokens again (its service user becomes active). Idempotent."""
    return _set_client_active(_client(client), True)


def _set_client_active(client: ApiClient, active: bool) -> ApiClient:
    with transaction.atomic():
        if client.is_active != active:
            client.is_active = active
            client.save(update_fields=["is_active", "modified"])
        if client.user.is_active != active:
            client.user.is_active = active
            client.user.save(update_fields=["is_active"])
    return client


def authenticate_client(client_id: str, secret: str) -> ApiClient | None:
    """The active client with this id and secret, or None.

    The secret is compared in constant time, and an unknown client id costs as much as a wrong
    secret, so timing does not tell which client ids exist.
    """
    if not isinstance(client_id, str) or not isinstance(secret, str) or not client_id or not secret:
        return None
    client = ApiClient.objects.select_related("user").filter(client_id=client_id).first()
    if client is None:
        make_password(secret)  # spend the time a hash check would take
        return None

    def upgrade_hash(raw_secret: str) -> None:
        client.secret_hash = make_password(raw_secret)
        client.save(update_fields=["secret_hash"])

    if not check_password(secret, client.secret_hash, setter=upgrade_hash):
        return None
    if not client.is_active or not client.user.is_active:
        return None
    return client


def issue_client_token(client: ApiClient, token_type: TokenType | str = TokenType.JWT) -> IssuedToken:
    """Sign an access token for the client's service user.

    ``token_type`` is ``jwt`` or ``bearer`` (any case); either way the token is Rollbook's signed JWT
    and the result's ``token_type`` says "JWT" or "Bearer". Raises InvalidInput (field ``token_type``).
    """
    try:
        kind = TokenType(str(token_type).strip().lower())
    except ValueError:
        choices = ", ".join(t.value for t in TokenType)
        raise InvalidInput({"token_type": [f"Unknown token type {token_type!r}; use one of {choices}."]}) from None
    return issue_token(client.user, client_id=client.client_id, scopes=list(TOKEN_SCOPES), token_type=kind.label)


# --- account retirement ---------------------------------------------------------------------------

RETIRED_PREFIX = "retired_user_"
RETIRED_EMAIL_DOMAIN = "retired.invalid"


def retired_identity(user: User) -> tuple[str, str]:
    """The (username, email) ``retire_user`` gives ``user``: ``retired_user_<token>`` at ``retired.invalid``,
    the token an HMAC of the user's uuid keyed from SECRET_KEY. Apps that keep the user's email use it to
    replace theirs while the retirement runs, before the account itself changes."""
    token = salted_hmac("rollbook.identity.retire_user", str(user.uuid)).hexdigest()[:20]
    username = f"{RETIRED_PREFIX}{token}"
    return username, f"{username}@{RETIRED_EMAIL_DOMAIN}"


def retire_user(user: User) -> str:
    """Retire an account for good: its personal data is replaced everywhere Rollbook keeps it.

    In one transaction: ``identity.signals.user_retiring`` lets every app replace what it keeps (programs
    replace the user's student keys); then the user's SSO links are removed with their external keys
    replaced in every history row; finally username and email become ``retired_user_<token>`` (email at
    ``retired.invalid``), names are blanked, the password made unusable and the account deactivated, in
    the live row and in every history row. The token is an HMAC of the user's uuid keyed from SECRET_KEY.
    Enrollments and other records stay, tied to the retired account. Returns the retired username.
    Idempotent; raises InvalidInput for a service account (deactivate its API client instead).
    """
    if user.is_service_account:
        raise InvalidInput({"user": ["A service account is not retired; deactivate its API client instead."]})
    username, email = retired_identity(user)
    with transaction.atomic():
        user_retiring.send(sender=User, user_id=user.pk)
        links = SsoLink.objects.filter(user=user)
        links.update(external_user_key=username, external_user_key_normalized=username)
        for link in links:  # few per user; each deletion leaves a "-" history row, already anonymous
            link.delete()
        SsoLink.history.filter(user_id=user.pk).update(
            external_user_key=username, external_user_key_normalized=username
        )
        user.username, user.email, user.first_name, user.last_name = username, email, "", ""
        user.is_active = False
        user.set_unusable_password()
        user.save()
        User.history.filter(id=user.pk).update(
            username=username, email=email, email_normalized=normalise_key(email), first_name="", last_name=""
        )
    return username
