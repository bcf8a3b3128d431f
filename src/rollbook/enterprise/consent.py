"""Data-sharing consent: a learner's yes / no / not asked per customer and catalog course.

A missing record means "not granted". Owned by: customers helper.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q

from rollbook.core.bulk import batches
from rollbook.core.errors import InvalidInput
from rollbook.enterprise import catalogs
from rollbook.enterprise.customers import CustomerRef, get_customer, is_linked_learner
from rollbook.enterprise.data import ConsentEnforcement
from rollbook.enterprise.models import DataSharingConsent, EnterpriseCustomer


@dataclass(frozen=True, slots=True)
class ConsentState:
    """The consent of a learner for a course with a customer; ``exists`` False when no record was made.

    ``course_key`` is the catalog course key (``catalog-course:ORG:CODE``); ``granted`` None means
    "not asked" (and is not consent); ``consent_required`` tells whether the customer asks for it.
    """

    customer_uuid: object
    user_id: int
    username: str
    course_key: str
    granted: bool | None
    exists: bool
    consent_required: bool


def _required(customer: EnterpriseCustomer, resolved: catalogs.ResolvedContent) -> bool:
    if not customer.enable_data_sharing_consent:
        return False
    if customer.enforce_data_sharing_consent != ConsentEnforcement.AT_ENROLLMENT:
        return False
    return catalogs.customer_contains(customer, [resolved.content_key])


def _state(
    customer: EnterpriseCustomer,
    user: AbstractBaseUser,
    resolved: catalogs.ResolvedContent,
    record: DataSharingConsent | None,
) -> ConsentState:
    return ConsentState(
        customer_uuid=customer.uuid,
        user_id=user.pk,
        username=user.get_username(),
        course_key=resolved.course_key,
        granted=None if record is None else record.granted,
        exists=record is not None,
        consent_required=_required(customer, resolved),
    )


def get_consent(customer: CustomerRef, user: AbstractBaseUser, content_key: str) -> ConsentState:
    """The learner's consent for the course named by ``content_key`` (a run key, ``catalog-course:ORG:CODE``
    or ``ORG+CODE``). A missing record gives granted=None, exists=False (nothing is written). Raises
    InvalidInput (field ``content_key``) for a key that is malformed or names nothing, NotFound for an
    unknown customer."""
    found = get_customer(customer)
    resolved = catalogs.resolve_content_key(content_key)
    record = DataSharingConsent.objects.filter(
        customer=found, user_id=user.pk, catalog_course_id=resolved.catalog_course_id
    ).first()
    return _state(found, user, resolved, record)


def _record(customer: CustomerRef, user: AbstractBaseUser, content_key: str, granted: bool) -> ConsentState:
    """Create or change the learner's consent record to ``granted`` (a history row for each change)."""
    found = get_customer(customer)
    resolved = catalogs.resolve_content_key(content_key)
    if user is None or user.pk is None or not is_linked_learner(found, user):
        raise InvalidInput(
            {
                "username": [
                    f"{getattr(user, 'username', user)!r} is not a linked learner of the customer {found.slug!r}."
                ]
            }
        )
    wanted = {"customer": found, "user_id": user.pk, "catalog_course_id": resolved.catalog_course_id}
    for attempt in range(2):
        try:
            with transaction.atomic():
                record = DataSharingConsent.objects.select_for_update().filter(**wanted).first()
                if record is None:
                    record = DataSharingConsent.objects.create(granted=granted, **wanted)
                elif record.granted is not granted:
                    record.granted = granted
                    record.save(update_fields=["granted", "modified"])
            break
        except IntegrityError:  # another request created the record meanwhile: change that one
            if attempt:
                raise
    return _state(found, user, resolved, record)


def grant_consent(customer: CustomerRef, user: AbstractBaseUser, content_key: str) -> ConsentState:
    """Record that the learner grants consent for the course (history kept). The user must be a linked
    learner of the customer (InvalidInput, field ``username``, otherwise); a bad key is InvalidInput
    (``content_key``), an unknown customer NotFound. Idempotent."""
    return _record(customer, user, content_key, True)


def revoke_consent(customer: CustomerRef, user: AbstractBaseUser, content_key: str) -> ConsentState:
    """Record that the learner refuses (granted=False; the record is kept, with history). Same rules and
    errors as ``grant_consent``."""
    return _record(customer, user, content_key, False)


def consent_required(customer: CustomerRef, content_key: str) -> bool:
    """True when the customer asks for consent at enrollment (consent enabled, enforcement
    ``at_enrollment``) and one of its catalogs contains the course. Raises InvalidInput for a malformed or
    unknown key, NotFound for an unknown customer."""
    found = get_customer(customer)
    return _required(found, catalogs.resolve_content_key(content_key))


def granted_pairs(customer: CustomerRef, pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Of the (user_id, catalog_course_id) pairs, those with consent granted=True. Set-based (one query per
    batch of ``settings.BULK_BATCH_SIZE`` pairs). Raises NotFound for an unknown customer."""
    found = get_customer(customer)
    wanted = list(dict.fromkeys((int(user_id), int(course_id)) for user_id, course_id in pairs))
    granted: set[tuple[int, int]] = set()
    for chunk in batches(wanted):
        courses_by_user: dict[int, list[int]] = {}
        for user_id, course_id in chunk:
            courses_by_user.setdefault(user_id, []).append(course_id)
        condition = Q()
        for user_id, course_ids in courses_by_user.items():
            condition |= Q(user_id=user_id, catalog_course_id__in=course_ids)
        rows = DataSharingConsent.objects.filter(condition, customer=found, granted=True)
        granted.update(rows.values_list("user_id", "catalog_course_id"))
    return granted
