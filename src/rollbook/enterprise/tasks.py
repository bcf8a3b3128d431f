"""Celery tasks of the enterprise app."""

from __future__ import annotations

import logging

from celery import shared_task

from rollbook.enterprise import api

logger = logging.getLogger(__name__)

# Realizing defaults for a large customer takes seconds to minutes; past this it is stopped and logged.
REALIZE_SOFT_TIME_LIMIT = 3600


@shared_task(
    name="enterprise.realize_for_customer",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=REALIZE_SOFT_TIME_LIMIT,
    time_limit=REALIZE_SOFT_TIME_LIMIT + 60,
)
def realize_for_customer_task(customer_uuid: str) -> dict[str, int]:
    """Realize the customer's default enrollments for every active learner (``api.realize_for_customer``);
    return the counts, which are also logged."""
    result = api.realize_for_customer(customer_uuid)
    counts = {
        "learners": result.learners,
        "enrollments_created": result.enrollments_created,
        "realizations_created": result.realizations_created,
        "skipped_without_license": result.skipped_without_license,
        "failures": result.failures,
    }
    logger.info("Default enrollments realized for customer %s: %s", customer_uuid, counts)
    return counts
