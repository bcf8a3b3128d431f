"""Enterprise customers and their learners (customer users): create, link by email, unlink, activate.

Public through ``rollbook.enterprise.api``. Rules kept here:

- Customer slugs are stored lower-case (so two slugs differing only by case cannot both exist); an identity
  provider serves at most one customer.
- A customer user is a user, or (pending) an email with no account yet. A user is active in at most one
  customer (the ``one_active_customer_per_user`` index); activating a customer for a user deactivates the
  user's other rows first, in one transaction with the user locked.
- A pending row becomes the user's row when a user with that email (ignoring case) is linked, registers
  (``link_pending_learners_for_user``, run on ``identity.signals.user_created``) or signs in through the
  customer's SSO. When the user already has a row in that customer, the pending row's pending enrollments
  move to it (unless it already has one for the same run) and the pending row is deleted. After the
  commit, rows that hold pending enrollments have them realized (``enrolling.realize_pending_enrollments``);
  failures there are logged, never raised.
- Unlinking keeps the row (``linked`` and ``active`` become False) and its enterprise enrollments; pending
  rows are deleted.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from rollbook.core.bulk import batches, delete_rows, delete_with_history, insert_with_history, update_with_history
from rollbook.core.errors import Conflict, InvalidInput, NotFound
from rollbook.core.normalise import normalise_key
from rollbook.enterprise.data import SLUG_PATTERN, ConsentEnforcement
from rollbook.enterprise.models import (
    EMAIL_MAX_LENGTH,
    EnterpriseCustomer,
    EnterpriseCustomerIdentityProvider,
    EnterpriseCustomerUser,
    License,
    PendingEnrollment,
)
from rollbook.identity import api as identity_api

logger = logging.getLogger(__name__)

CustomerRef = EnterpriseCustomer | uuid.UUID | str

NAME_MAX_LENGTH = 255
SLUG_MAX_LENGTH = 64
BOOLEAN_FIELDS = (
    "active",
    "enable_data_sharing_consent",
    "enable_audit_enrollment",
    "enable_audit_data_reporting",
)
UPDATABLE_FIELDS = frozenset(
    {"name", "slug", "enforce_data_sharing_consent", "identity_provider_slugs", *BOOLEAN_FIELDS}
)
_RETIREMENT_REASON = "email retired"


class LinkStatus:
    """Per-email outcome of ``link_learners`` / ``unlink_learners`` (plain strings on the wire)."""

    LINKED = "linked"  # an existing account was linked (new row, or an unlinked row linked again)
    PENDING = "pending"  # no account with that email: a pending learner was recorded
    ALREADY_LINKED = "already_linked"  # linked (or already pending) before the call
    UNLINKED = "unlinked"
    NOT_LINKED = "not_linked"  # unlink of an email that is not a learner of the customer
    INVALID_EMAIL = "invalid_email"
    DUPLICATED = "duplicated"  # the same email (ignoring case) appears twice in the call


@dataclass(frozen=True, slots=True)
class LinkResult:
    """One email's outcome; ``email`` as given, ``user_id`` when an account matched."""

    email: str
    status: str
    user_id: int | None = None


# --- customers --------------------------------------------------------------------------------------


def customers_queryset() -> QuerySet[EnterpriseCustomer]:
    """Every customer, active or not, ordered by name."""
    return EnterpriseCustomer.objects.order_by("name", "id")


def get_customer(customer: CustomerRef, *, include_inactive: bool = True) -> EnterpriseCustomer:
    """The customer with this uuid (or slug, or the instance itself). Raises NotFound (a malformed uuid too)."""
    if isinstance(customer, EnterpriseCustomer):
        if not include_inactive and not customer.active:
            raise NotFound(f"The enterprise customer {customer.slug!r} is not active.")
        return customer
    if isinstance(customer, uuid.UUID):
        lookup = Q(uuid=customer)
    elif isinstance(customer, str) and customer.strip():
        text = customer.strip()
        lookup = Q(slug=text.lower())
        with contextlib.suppress(ValueError):  # not a uuid: a slug only
            lookup |= Q(uuid=uuid.UUID(text))
    else:
        raise NotFound(f"No enterprise customer {customer!r}.")
    queryset = customers_queryset().filter(lookup)
    if not include_inactive:
        queryset = queryset.filter(active=True)
    found = queryset.first()
    if found is None:
        raise NotFound(f"No enterprise customer {customer!r}.")
    return found


def _clean_name(value: object, errors: dict[str, list[str]]) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors["name"] = ["A name is required."]
        return None
    name = value.strip()
    if len(name) > NAME_MAX_LENGTH:
        errors["name"] = [f"A name has at most {NAME_MAX_LENGTH} characters."]
        return None
    return name


def _slug_taken(slug: str, exclude: EnterpriseCustomer | None) -> bool:
    others = EnterpriseCustomer.objects.filter(slug=slug)
    if exclude is not None and exclude.pk is not None:
        others = others.exclude(pk=exclude.pk)
    return others.exists()


def _clean_slug(value: object, errors: dict[str, list[str]], exclude: EnterpriseCustomer | None) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors["slug"] = ["A slug is required."]
        return None
    slug = value.strip().lower()
    if len(slug) > SLUG_MAX_LENGTH:
        errors["slug"] = [f"A slug has at most {SLUG_MAX_LENGTH} characters."]
    elif not re.fullmatch(SLUG_PATTERN, slug):
        errors["slug"] = ["Use lower-case letters, digits and '-' (not first or last)."]
    elif _slug_taken(slug, exclude):
        errors["slug"] = [f"The slug {slug!r} is already taken (slugs are compared ignoring case)."]
    else:
        return slug
    return None


def _clean_enforcement(value: object, errors: dict[str, list[str]]) -> str | None:
    text = value.strip() if isinstance(value, str) else value
    try:
        return ConsentEnforcement(text).value
    except ValueError:
        choices = ", ".join(member.value for member in ConsentEnforcement)
        errors["enforce_data_sharing_consent"] = [f"Unknown value {value!r}; use one of {choices}."]
        return None


def _clean_providers(
    value: object, errors: dict[str, list[str]], customer: EnterpriseCustomer | None
) -> list[Any] | None:
    """The identity providers named by slug, each free or already serving ``customer``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        errors["identity_provider_slugs"] = ["Give a list of identity provider slugs."]
        return None
    slugs = list(value)
    problems: list[str] = []
    providers: dict[int, Any] = {}
    for slug in slugs:
        if not isinstance(slug, str) or not slug.strip():
            problems.append(f"{slug!r} is not an identity provider slug.")
            continue
        try:
            provider = identity_api.get_identity_provider(slug)
        except NotFound:
            problems.append(f"No identity provider {slug.strip()!r}.")
            continue
        providers.setdefault(provider.pk, provider)
    if providers:
        taken = EnterpriseCustomerIdentityProvider.objects.filter(identity_provider_id__in=list(providers))
        if customer is not None and customer.pk is not None:
            taken = taken.exclude(customer=customer)
        for provider_id, slug in taken.values_list("identity_provider_id", "customer__slug"):
            problems.append(
                f"The identity provider {providers[provider_id].slug!r} already serves the customer {slug!r}."
            )
    if problems:
        errors["identity_provider_slugs"] = problems
        return None
    return list(providers.values())


def _clean_boolean(field: str, value: object, errors: dict[str, list[str]]) -> bool | None:
    if not isinstance(value, bool):
        errors[field] = [f"Must be true or false, not {value!r}."]
        return None
    return value


def _clean_customer_uuid(value: object, errors: dict[str, list[str]]) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        parsed = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value).strip())
    except ValueError:
        errors["uuid"] = [f"{value!r} is not a UUID."]
        return None
    if EnterpriseCustomer.objects.filter(uuid=parsed).exists():
        errors["uuid"] = [f"A customer with the uuid {parsed} exists already."]
        return None
    return parsed


def _clean_changes(
    changes: dict[str, object], customer: EnterpriseCustomer | None
) -> tuple[dict[str, object], list[Any] | None]:
    """Validated field values and providers (None: not given); raises InvalidInput listing every bad field."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, object] = {}
    providers = None
    for field, value in changes.items():
        if field == "name":
            cleaned[field] = _clean_name(value, errors)
        elif field == "slug":
            cleaned[field] = _clean_slug(value, errors, customer)
        elif field == "enforce_data_sharing_consent":
            cleaned[field] = _clean_enforcement(value, errors)
        elif field in BOOLEAN_FIELDS:
            cleaned[field] = _clean_boolean(field, value, errors)
        elif field == "identity_provider_slugs":
            providers = _clean_providers(value, errors, customer)
        else:
            errors[field] = [f"Unknown field; the fields are {', '.join(sorted(UPDATABLE_FIELDS))}."]
    if errors:
        raise InvalidInput(errors)
    return cleaned, providers


def _raise_for_lost_race(customer: EnterpriseCustomer | None, cleaned: dict[str, object], providers) -> None:
    """After an IntegrityError: report what another writer took meanwhile (InvalidInput, always raised)."""
    errors: dict[str, list[str]] = {}
    if "slug" in cleaned:
        _clean_slug(cleaned["slug"], errors, customer)
    if providers:
        _clean_providers([provider.slug for provider in providers], errors, customer)
    raise InvalidInput(errors or {"non_field_errors": ["The customer was changed concurrently; try again."]})


def create_customer(
    *,
    name: str,
    slug: str,
    active: bool = True,
    enable_data_sharing_consent: bool = True,
    enforce_data_sharing_consent: str = "at_enrollment",
    enable_audit_enrollment: bool = False,
    enable_audit_data_reporting: bool = False,
    identity_provider_slugs: Iterable[str] = (),
    customer_uuid: uuid.UUID | None = None,
) -> EnterpriseCustomer:
    """Create a customer. Raises InvalidInput with field errors (name empty, slug malformed or taken
    case-insensitively, unknown enforcement, unknown identity provider or one serving another customer)."""
    errors: dict[str, list[str]] = {}
    chosen_uuid = _clean_customer_uuid(customer_uuid, errors)
    try:
        cleaned, providers = _clean_changes(
            {
                "name": name,
                "slug": slug,
                "active": active,
                "enable_data_sharing_consent": enable_data_sharing_consent,
                "enforce_data_sharing_consent": enforce_data_sharing_consent,
                "enable_audit_enrollment": enable_audit_enrollment,
                "enable_audit_data_reporting": enable_audit_data_reporting,
                "identity_provider_slugs": identity_provider_slugs,
            },
            None,
        )
    except InvalidInput as exc:
        raise InvalidInput({**errors, **exc.errors}) from None
    if errors:
        raise InvalidInput(errors)
    customer = EnterpriseCustomer(**cleaned)
    if chosen_uuid is not None:
        customer.uuid = chosen_uuid
    try:
        with transaction.atomic():
            customer.save()
            EnterpriseCustomerIdentityProvider.objects.bulk_create(
                [EnterpriseCustomerIdentityProvider(customer=customer, identity_provider=p) for p in providers or ()]
            )
    except IntegrityError:
        if chosen_uuid is not None and EnterpriseCustomer.objects.filter(uuid=chosen_uuid).exists():
            raise InvalidInput({"uuid": [f"A customer with the uuid {chosen_uuid} exists already."]}) from None
        _raise_for_lost_race(None, cleaned, providers)
    return customer


def update_customer(customer: CustomerRef, **changes: object) -> EnterpriseCustomer:
    """Change the given fields (those of ``create_customer`` except customer_uuid); ``identity_provider_slugs``
    replaces the set. Returns the customer (the instance given is updated too). Raises InvalidInput (bad
    values, unknown field names; nothing is changed then) / NotFound."""
    found = get_customer(customer)
    cleaned, providers = _clean_changes(dict(changes), found)
    try:
        with transaction.atomic():
            locked = EnterpriseCustomer.objects.select_for_update().get(pk=found.pk)
            changed = [field for field, value in cleaned.items() if getattr(locked, field) != value]
            for field in changed:
                setattr(locked, field, cleaned[field])
            if changed:
                locked.save(update_fields=[*changed, "modified"])
            if providers is not None:
                wanted = {provider.pk for provider in providers}
                links = EnterpriseCustomerIdentityProvider.objects.filter(customer=locked)
                current = set(links.values_list("identity_provider_id", flat=True))
                if current - wanted:
                    links.filter(identity_provider_id__in=current - wanted).delete()
                EnterpriseCustomerIdentityProvider.objects.bulk_create(
                    [
                        EnterpriseCustomerIdentityProvider(customer=locked, identity_provider=provider)
                        for provider in providers
                        if provider.pk not in current
                    ]
                )
    except IntegrityError:
        _raise_for_lost_race(found, cleaned, providers)
    for field in EnterpriseCustomer._meta.concrete_fields:  # the caller's instance shows the update too
        setattr(found, field.attname, getattr(locked, field.attname))
    return found


def customer_for_identity_provider(provider_slug: str) -> EnterpriseCustomer | None:
    """The customer served by this identity provider (active or not; slug in any case), or None."""
    if not isinstance(provider_slug, str) or not provider_slug.strip():
        return None
    return EnterpriseCustomer.objects.filter(
        provider_links__identity_provider__slug=provider_slug.strip().lower()
    ).first()


# --- learners: reading ------------------------------------------------------------------------------


def _user_id(user: AbstractBaseUser | int) -> int:
    return user if isinstance(user, int) else user.pk


def customer_user_for(customer: CustomerRef, user: AbstractBaseUser | int) -> EnterpriseCustomerUser | None:
    """The user's (linked or not) learner row in the customer, or None. Raises NotFound for an unknown customer."""
    found = get_customer(customer)
    return EnterpriseCustomerUser.objects.filter(customer=found, user_id=_user_id(user)).first()


def is_linked_learner(customer: CustomerRef, user: AbstractBaseUser | int) -> bool:
    """True when the user is a linked learner of the customer (active or not). Raises NotFound for an unknown
    customer."""
    found = get_customer(customer)
    return EnterpriseCustomerUser.objects.filter(customer=found, user_id=_user_id(user), linked=True).exists()


def customer_uuids_of_learner(user: AbstractBaseUser | int) -> set[uuid.UUID]:
    """The uuids of the customers in which the user is a linked learner."""
    rows = EnterpriseCustomerUser.objects.filter(user_id=_user_id(user), linked=True)
    return set(rows.values_list("customer__uuid", flat=True))


def learners_queryset(customer: CustomerRef | None = None) -> QuerySet[EnterpriseCustomerUser]:
    """Customer users (pending included), optionally of one customer, with user and customer joined."""
    rows = EnterpriseCustomerUser.objects.select_related("user", "customer").order_by("customer_id", "id")
    if customer is not None:
        rows = rows.filter(customer=get_customer(customer))
    return rows


# --- learners: linking one user ---------------------------------------------------------------------


def _lock_user(user_id: int) -> None:
    """Lock the account row: linking the same user concurrently waits here (the user's rows may not exist yet)."""
    identity_api.lock_user(user_id)


def _merge_pending_rows(merges: Sequence[tuple[EnterpriseCustomerUser, EnterpriseCustomerUser]]) -> None:
    """Fold each (pending row, user's row of the same customer) pair: the pending row's pending enrollments
    move to the user's row unless it has one for the same run; the pending row is deleted (with history)."""
    if not merges:
        return
    target_of = {pending.pk: own.pk for pending, own in merges}
    for chunk in batches(list(target_of)):
        involved = [*chunk, *(target_of[pk] for pk in chunk)]
        entries = list(
            PendingEnrollment.objects.filter(customer_user_id__in=involved)
            .order_by("pk")
            .values_list("pk", "customer_user_id", "course_run_id")
        )
        held = {(owner, run) for _, owner, run in entries if owner not in target_of}
        moves: dict[int, int] = {}
        for pk, owner, run in entries:
            if owner in target_of and (target_of[owner], run) not in held:
                moves[pk] = target_of[owner]
                held.add((target_of[owner], run))
        if moves:
            PendingEnrollment.objects.filter(pk__in=list(moves)).update(
                customer_user_id=Case(
                    *(When(pk=pk, then=Value(target)) for pk, target in moves.items()), output_field=IntegerField()
                )
            )
        delete_rows(PendingEnrollment.objects.filter(customer_user_id__in=list(chunk)))
    delete_with_history([pending for pending, _ in merges])


def _realize_pending_after_commit(customer_user_ids: Iterable[int]) -> None:
    """Once the transaction commits, realize the pending enrollments of those rows that have some."""
    ids = list(dict.fromkeys(customer_user_ids))
    if not ids:
        return
    holders: list[int] = []
    for chunk in batches(ids):
        holders.extend(
            PendingEnrollment.objects.filter(customer_user_id__in=list(chunk))
            .values_list("customer_user_id", flat=True)
            .distinct()
        )
    if holders:
        transaction.on_commit(lambda: _realize_pending(sorted(set(holders))))


def _realize_pending(customer_user_ids: list[int]) -> None:
    from rollbook.enterprise import enrolling  # enrolling imports this module

    for row in EnterpriseCustomerUser.objects.filter(pk__in=customer_user_ids).select_related("customer", "user"):
        try:
            enrolling.realize_pending_enrollments(row)
        except Exception:  # the link is committed: enrollment problems are logged, not raised
            logger.exception("Realizing the pending enrollments of customer user %s failed.", row.pk)


def _save_changed(row: EnterpriseCustomerUser, **values: object) -> None:
    """Give ``row`` these values and save it (with a history row) when it is new or something changed."""
    changed = [field for field, value in values.items() if getattr(row, field) != value]
    for field in changed:
        setattr(row, field, values[field])
    if row.pk is None or changed:
        row.save()


def _link_user_rows(user: AbstractBaseUser, customer_id: int | None, *, activate: bool) -> list[EnterpriseCustomerUser]:
    """Link ``user`` in one customer (``customer_id``) or, with None, in every customer with a pending row of
    the user's email. The caller holds a transaction. See the module docstring for the rules."""
    _lock_user(user.pk)
    email = (getattr(user, "email", "") or "").strip()
    email_normalized = normalise_key(email)
    own = {
        row.customer_id: row
        for row in EnterpriseCustomerUser.objects.select_for_update().filter(user_id=user.pk).order_by("pk")
    }
    pending: dict[int, EnterpriseCustomerUser] = {}
    if email_normalized:
        pending_rows = EnterpriseCustomerUser.objects.select_for_update().filter(
            user__isnull=True, user_email_normalized=email_normalized
        )
        if customer_id is not None:
            pending_rows = pending_rows.filter(customer_id=customer_id)
        pending = {row.customer_id: row for row in pending_rows.order_by("pk")}
    targets = [customer_id] if customer_id is not None else list(pending)
    if not targets:
        return []
    _merge_pending_rows([(pending[c], own[c]) for c in targets if c in pending and c in own])

    rows: dict[int, EnterpriseCustomerUser] = {}
    for target in targets:
        rows[target] = (
            own.get(target) or pending.get(target) or EnterpriseCustomerUser(customer_id=target, active=False)
        )
    others = [row for customer, row in own.items() if customer not in rows]
    if activate:
        chosen = rows[targets[-1]]
    elif any(row.active for row in others) or any(row.active and row.user_id for row in rows.values()):
        chosen = None  # the user keeps the customer that is active now
    else:
        chosen = rows[targets[-1]]  # the most recent pending row, or the one customer asked for

    for row in others:  # deactivate first: the index allows one active row per user at any moment
        if activate and row.active:
            _save_changed(row, active=False)
    for row in rows.values():
        if row is not chosen and row.user_id is None:
            row.active = False  # a pending row turning into this user's row stays inactive unless chosen
    for row in rows.values():
        if row is not chosen:
            _save_changed(row, user_id=user.pk, linked=True, user_email=email or row.user_email)
    if chosen is not None:
        _save_changed(chosen, user_id=user.pk, linked=True, active=True, user_email=email or chosen.user_email)
    _realize_pending_after_commit(row.pk for row in rows.values())
    return list(rows.values())


def link_user(customer: CustomerRef, user: AbstractBaseUser, *, activate: bool = True) -> EnterpriseCustomerUser:
    """Make ``user`` a linked learner of the customer (idempotent). With ``activate`` the row becomes the
    user's active customer and every other customer user of the user is deactivated (in one transaction).
    Without it, the row is active only when the user has no active customer. A pending row with the user's
    email is turned into this row rather than left behind; pending enrollments it holds are realized after
    the commit. Raises NotFound for an unknown customer."""
    found = get_customer(customer)
    if user is None or user.pk is None:
        raise InvalidInput({"user": ["A saved user is required."]})
    with transaction.atomic():
        (row,) = _link_user_rows(user, found.pk, activate=activate)
    return row


def link_pending_learners_for_user(user: AbstractBaseUser) -> list[EnterpriseCustomerUser]:
    """Turn every pending learner row whose email matches the user's (ignoring case) into a linked row for
    the user, and return them. The user's active customer does not change; a user without one gets the most
    recent of these rows as active. Pending enrollments are realized after the commit. Called when a user
    registers or signs in through a customer's SSO."""
    email_normalized = normalise_key(getattr(user, "email", "") or "")
    if not email_normalized or user.pk is None:
        return []
    if not EnterpriseCustomerUser.objects.filter(user__isnull=True, user_email_normalized=email_normalized).exists():
        return []  # the usual case at registration: one cheap query
    with transaction.atomic():
        return _link_user_rows(user, None, activate=False)


def activate_customer(customer: CustomerRef, user: AbstractBaseUser) -> EnterpriseCustomerUser:
    """Make the customer the user's active one (deactivating the others). Raises NotFound when the user
    is not a linked learner of the customer."""
    found = get_customer(customer)
    with transaction.atomic():
        _lock_user(user.pk)
        rows = list(EnterpriseCustomerUser.objects.select_for_update().filter(user_id=user.pk).order_by("pk"))
        chosen = next((row for row in rows if row.customer_id == found.pk and row.linked), None)
        if chosen is None:
            raise NotFound(f"The user is not a linked learner of the customer {found.slug!r}.")
        for row in rows:
            if row is not chosen and row.active:
                _save_changed(row, active=False)
        _save_changed(chosen, active=True)
    return chosen


# --- learners: linking and unlinking in bulk --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _EmailRequest:
    position: int
    email: str  # trimmed
    normalized: str


def _email_list(emails: Iterable[str]) -> list[str]:
    """The emails as a list; InvalidInput (field ``emails``) for one string or something not iterable."""
    if isinstance(emails, (str, bytes)) or not isinstance(emails, Iterable):
        raise InvalidInput({"emails": ["Give a list of email addresses."]})
    return list(emails)


def _sort_requests(emails: Sequence[object], results: list[LinkResult | None]) -> list[_EmailRequest]:
    """Fill ``results`` for malformed and repeated emails; return the others, one request per email."""
    requests: list[_EmailRequest] = []
    for position, value in enumerate(emails):
        email = value.strip() if isinstance(value, str) else ""
        try:
            if not email or len(email) > EMAIL_MAX_LENGTH:
                raise ValidationError("bad email")
            validate_email(email)
        except ValidationError:
            results[position] = LinkResult(str(value), LinkStatus.INVALID_EMAIL)
            continue
        requests.append(_EmailRequest(position, email, normalise_key(email)))
    counts = Counter(request.normalized for request in requests)
    unique: list[_EmailRequest] = []
    for request in requests:
        if counts[request.normalized] > 1:
            results[request.position] = LinkResult(emails[request.position], LinkStatus.DUPLICATED)
        else:
            unique.append(request)
    return unique


def _accounts_by_email(normalized_emails: Sequence[str]) -> dict[str, tuple[int, str]]:
    """``{normalised email: (user id, email)}`` of the accounts with these emails (one query)."""
    users = identity_api.users_by_emails(normalized_emails)
    return {normalized: (user.pk, user.email) for normalized, user in users.items()}


def link_learners(customer: CustomerRef, emails: Iterable[str]) -> list[LinkResult]:
    """Link many emails at once, one result per email in order (see LinkStatus). Emails matching an
    account (ignoring case) link that user (without changing which customer is active for a user already
    active elsewhere: the new row is then inactive); others become pending learners. Emails that are
    malformed are ``invalid_email``; every occurrence of an email given twice is ``duplicated``.

    All in one transaction. Set-based: a constant number of statements per batch of
    ``settings.BULK_BATCH_SIZE`` emails. Raises NotFound for an unknown customer, Conflict when another
    writer changed the same learners meanwhile (nothing is written then)."""
    found = get_customer(customer)
    emails = _email_list(emails)
    results: list[LinkResult | None] = [None] * len(emails)
    requests = _sort_requests(emails, results)
    to_realize: list[int] = []
    try:
        with transaction.atomic():
            for chunk in batches(requests):
                to_realize.extend(_link_batch(found, chunk, emails, results))
            _realize_pending_after_commit(to_realize)
    except IntegrityError:
        raise Conflict("Learners of this customer were changed concurrently; nothing was linked. Try again.") from None
    return results  # type: ignore[return-value]  # every position is filled


def _link_batch(
    customer: EnterpriseCustomer,
    requests: Sequence[_EmailRequest],
    emails: Sequence[str],
    results: list[LinkResult | None],
) -> list[int]:
    """Link one batch; fill its results; return the ids of rows that may hold pending enrollments."""
    accounts = _accounts_by_email([request.normalized for request in requests])
    user_ids = [pk for pk, _ in accounts.values()]
    rows = list(
        EnterpriseCustomerUser.objects.select_for_update()
        .filter(
            Q(user_id__in=user_ids)
            | Q(customer=customer, user__isnull=True, user_email_normalized__in=[r.normalized for r in requests])
        )
        .order_by("pk")
    )
    own = {row.user_id: row for row in rows if row.customer_id == customer.pk and row.user_id is not None}
    pending = {row.user_email_normalized: row for row in rows if row.customer_id == customer.pk and row.user_id is None}
    active_users = {row.user_id for row in rows if row.user_id is not None and row.active}

    now = timezone.now()
    merges: list[tuple[EnterpriseCustomerUser, EnterpriseCustomerUser]] = []
    updates: list[EnterpriseCustomerUser] = []
    inserts: list[dict[str, object]] = []
    absorbed: list[int] = []
    for request in requests:
        given = emails[request.position]
        account = accounts.get(request.normalized)
        waiting = pending.get(request.normalized)
        if account is None:
            if waiting is not None:
                results[request.position] = LinkResult(given, LinkStatus.ALREADY_LINKED)
                continue
            inserts.append(
                {
                    "customer_id": customer.pk,
                    "user_id": None,
                    "user_email": request.email,
                    "user_email_normalized": request.normalized,
                    "active": False,
                    "linked": True,
                }
            )
            results[request.position] = LinkResult(given, LinkStatus.PENDING)
            continue
        user_id, account_email = account
        row = own.get(user_id)
        if row is not None and waiting is not None:
            merges.append((waiting, row))
            absorbed.append(row.pk)
        if row is not None and row.linked:
            results[request.position] = LinkResult(given, LinkStatus.ALREADY_LINKED, user_id)
            continue
        results[request.position] = LinkResult(given, LinkStatus.LINKED, user_id)
        if row is None and waiting is None:
            inserts.append(
                {
                    "customer_id": customer.pk,
                    "user_id": user_id,
                    "user_email": account_email,
                    "user_email_normalized": normalise_key(account_email),
                    "active": user_id not in active_users,
                    "linked": True,
                }
            )
            continue
        if row is None:  # the pending row of the email becomes the user's row
            row, row.active = waiting, False
        absorbed.append(row.pk)
        row.active = row.active or user_id not in active_users
        row.user_id, row.linked, row.modified = user_id, True, now
        row.user_email, row.user_email_normalized = account_email, normalise_key(account_email)
        updates.append(row)
    _merge_pending_rows(merges)
    update_with_history(
        updates, ["user", "linked", "active", "user_email", "user_email_normalized", "modified"], history_date=now
    )
    insert_with_history(EnterpriseCustomerUser, inserts, history_date=now)
    return absorbed


def unlink_learners(customer: CustomerRef, emails: Iterable[str]) -> list[LinkResult]:
    """Unlink learners by email (linked and active become False; rows and enrollments are kept); pending
    learners with that email are removed (with their pending enrollments). One result per email, in order:
    ``unlinked``, ``not_linked`` (no linked or pending learner with that email), ``invalid_email``,
    ``duplicated``. One transaction; set-based per batch. Raises NotFound for an unknown customer."""
    found = get_customer(customer)
    emails = _email_list(emails)
    results: list[LinkResult | None] = [None] * len(emails)
    requests = _sort_requests(emails, results)
    now = timezone.now()
    with transaction.atomic():
        for chunk in batches(requests):
            accounts = _accounts_by_email([request.normalized for request in chunk])
            rows = list(
                EnterpriseCustomerUser.objects.select_for_update()
                .filter(customer=found)
                .filter(
                    Q(user_id__in=[pk for pk, _ in accounts.values()])
                    | Q(user__isnull=True, user_email_normalized__in=[request.normalized for request in chunk])
                )
                .order_by("pk")
            )
            own = {row.user_id: row for row in rows if row.user_id is not None}
            pending = {row.user_email_normalized: row for row in rows if row.user_id is None}
            updates: list[EnterpriseCustomerUser] = []
            removals: list[EnterpriseCustomerUser] = []
            for request in chunk:
                account = accounts.get(request.normalized)
                row = own.get(account[0]) if account else None
                waiting = pending.get(request.normalized)
                status = LinkStatus.NOT_LINKED
                if row is not None and row.linked:
                    row.linked, row.active, row.modified = False, False, now
                    updates.append(row)
                    status = LinkStatus.UNLINKED
                if waiting is not None:
                    removals.append(waiting)
                    status = LinkStatus.UNLINKED
                results[request.position] = LinkResult(
                    emails[request.position], status, account[0] if account else None
                )
            update_with_history(updates, ["linked", "active", "modified"], history_date=now)
            if removals:
                delete_rows(PendingEnrollment.objects.filter(customer_user_id__in=[row.pk for row in removals]))
                delete_with_history(removals, history_date=now)
    return results  # type: ignore[return-value]  # every position is filled


# --- retirement -------------------------------------------------------------------------------------


def retired_email(user: AbstractBaseUser) -> str:
    """The email ``identity.api.retire_user`` gives ``user`` when it retires the account."""
    return identity_api.retired_identity(user)[1]


def retire_learner_emails(user_id: int) -> None:
    """Replace the retiring user's email kept in enterprise rows (live and history).

    Customer users and licenses of the user, and pending ones holding the user's email, get the retired
    email (``retired_email``) in ``user_email`` and its normalised column: live rows with a history row
    recording the change, then every history row of those rows, of the user, or pending with the email.
    Idempotent. Runs inside the retirement's transaction (``identity.signals.user_retiring``); errors abort
    the retirement.
    """
    user = identity_api.get_user(id=user_id)
    new_email = retired_email(user)
    new_normalized = normalise_key(new_email)
    old_normalized = normalise_key(user.email)
    now = timezone.now()
    with transaction.atomic():
        for model in (EnterpriseCustomerUser, License):
            owned = Q(user_id=user_id)
            if old_normalized and old_normalized != new_normalized:
                owned |= Q(user__isnull=True, user_email_normalized=old_normalized)
            rows = list(
                model.objects.select_for_update()
                .filter(owned)
                .exclude(user_email_normalized__in=["", new_normalized])
                .order_by("pk")
            )
            for row in rows:
                row.user_email, row.user_email_normalized, row.modified = new_email, new_normalized, now
                row._change_reason = _RETIREMENT_REASON
            update_with_history(rows, ["user_email", "user_email_normalized", "modified"], history_date=now)
            history = model.history.model.objects.exclude(user_email_normalized__in=["", new_normalized])
            history_owned = Q(user_id=user_id)
            if old_normalized and old_normalized != new_normalized:
                history_owned |= Q(user_email_normalized=old_normalized)
            history.filter(history_owned).update(user_email=new_email, user_email_normalized=new_normalized)
            for chunk in batches([row.pk for row in rows]):
                history.filter(id__in=list(chunk)).update(user_email=new_email, user_email_normalized=new_normalized)
