"""Public API of the catalog app: organizations, catalog courses, course runs and modes.

Other apps, the REST layer, the admin, the CLI and tasks use only these functions.
None of them checks permissions: callers do.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone
from opaque_keys import InvalidKeyError
from opaque_keys.edx.keys import CourseKey

from rollbook.catalog.data import BEST_MODE_PRIORITY, DEFAULT_MODE
from rollbook.catalog.models import CourseMode, CourseRun
from rollbook.core.errors import InvalidInput


def parse_course_key(value: str | CourseKey, field: str = "course_key") -> CourseKey:
    """Return ``value`` as a CourseKey; raise InvalidInput naming ``field`` when it is malformed."""
    if isinstance(value, CourseKey):
        return value
    try:
        return CourseKey.from_string(str(value).strip())
    except InvalidKeyError:
        raise InvalidInput({field: [f"{value!r} is not a valid course key (e.g. course-v1:ORG+CODE+RUN)."]}) from None


def get_course_run(course_key: str | CourseKey) -> CourseRun:
    """Return the run with exactly this key (case-sensitive). Raises CourseRun.DoesNotExist."""
    return CourseRun.objects.select_related("catalog_course__org").get(course_key=parse_course_key(course_key))


def get_course_runs(course_keys: Iterable[str | CourseKey]) -> dict[str, CourseRun]:
    """Return ``{str(course_key): run}`` for the keys that exist, in one query; unknown keys are absent.

    Malformed keys are simply absent too: callers validate keys they report on.
    """
    keys = []
    for value in course_keys:
        try:
            keys.append(parse_course_key(value))
        except InvalidInput:
            continue
    runs = CourseRun.objects.filter(course_key__in=keys).select_related("catalog_course__org")
    return {str(run.course_key): run for run in runs}


def mode_slugs_by_run(run_ids: Iterable[int]) -> dict[int, set[str]]:
    """Return ``{run_id: {mode slugs}}`` for the given runs, in one query (runs without modes map to an empty set)."""
    ids = set(run_ids)
    result: dict[int, set[str]] = {run_id: set() for run_id in ids}
    for run_id, slug in CourseMode.objects.filter(course_run_id__in=ids).values_list("course_run_id", "slug"):
        result[run_id].add(slug)
    return result


def choose_best_mode(slugs: Iterable[str]) -> str:
    """The best of the offered mode slugs: verified > professional > no-id-professional > audit > honor >
    unpaid-executive-education; ``audit`` when none of those is offered."""
    offered = set(slugs)
    for slug in BEST_MODE_PRIORITY:
        if slug in offered:
            return slug.value
    return DEFAULT_MODE.value


def best_mode(run: CourseRun) -> str:
    """The mode a learner is enrolled in when none is asked for (see ``choose_best_mode``)."""
    return choose_best_mode(run.modes.values_list("slug", flat=True))


def is_enrollable(run: CourseRun, now: datetime | None = None) -> bool:
    """True when ``now`` lies in the run's enrollment window and the run has not ended.

    A missing enrollment start means "open since creation"; a missing enrollment end means "until the run ends".
    """
    now = now or timezone.now()
    if run.enrollment_start and now < run.enrollment_start:
        return False
    if run.enrollment_end and now >= run.enrollment_end:
        return False
    return not (run.end and now >= run.end)
