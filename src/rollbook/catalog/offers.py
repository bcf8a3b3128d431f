"""What a course run offers now: its enrollment window, price, upgradeability, enroll-by date, and which
run a catalog course advertises.

Use these through ``catalog.api``, which re-exports them. Functions taking a run use its prefetched modes
when they are loaded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from rollbook.catalog.data import CURRENT_RUN_MIN_REMAINING_DAYS, EXECUTIVE_EDUCATION_MODES, PAID_MODE_PRIORITY
from rollbook.catalog.models import CatalogCourse, CourseMode, CourseRun
from rollbook.core.bulk import batches


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


def enrollable_q(now: datetime | None = None) -> Q:
    """A filter for runs open for enrollment at ``now`` (the queryset form of ``is_enrollable``)."""
    now = now or timezone.now()
    return (
        (Q(enrollment_start__isnull=True) | Q(enrollment_start__lte=now))
        & (Q(enrollment_end__isnull=True) | Q(enrollment_end__gt=now))
        & (Q(end__isnull=True) | Q(end__gt=now))
    )


def paid_mode(run: CourseRun) -> CourseMode | None:
    """The run's paid mode (price above zero) that sets its price: the first of ``PAID_MODE_PRIORITY`` it
    offers, else its most expensive paid mode; None for a free run. Uses prefetched modes when loaded."""
    paid = {mode.slug: mode for mode in run.modes.all() if mode.price_cents > 0}
    for slug in PAID_MODE_PRIORITY:
        if slug in paid:
            return paid[slug]
    return max(paid.values(), key=lambda mode: mode.price_cents, default=None)


def run_price(run: CourseRun) -> tuple[int, str]:
    """``(price_cents, currency)`` of the run's paid mode, or ``(0, "usd")`` for a free run."""
    mode = paid_mode(run)
    return (mode.price_cents, mode.currency) if mode else (0, "usd")


def is_upgradeable(run: CourseRun, now: datetime | None = None) -> bool:
    """True when a learner can still pay for a certificate: the run has not ended and offers a paid mode
    (price above zero) whose upgrade deadline is absent or still ahead."""
    now = now or timezone.now()
    if run.end and now >= run.end:
        return False
    return any(
        mode.price_cents > 0 and (mode.upgrade_deadline is None or now < mode.upgrade_deadline)
        for mode in run.modes.all()
    )


def enroll_by_date(run: CourseRun) -> datetime | None:
    """The last moment to enroll with the paid seat: the earlier of the enrollment end (or, without one,
    the run's end) and the upgrade deadline of the run's paid mode (executive-education seats: the
    enrollment end only). None when nothing bounds it."""
    candidates = [moment for moment in (run.enrollment_end or run.end,) if moment]
    mode = paid_mode(run)
    if mode and mode.upgrade_deadline and mode.slug not in EXECUTIVE_EDUCATION_MODES:
        candidates.append(mode.upgrade_deadline)
    return min(candidates, default=None)


def choose_advertised_run(runs: Iterable[CourseRun], now: datetime | None = None) -> CourseRun | None:
    """The run a catalog course advertises, among ``runs`` (their modes should be prefetched).

    Only marketable runs count. First choice: current runs (started, and ending at least 14 days from
    ``now`` or open-ended) that are upgradeable (``is_upgradeable``) — the one that started last. Else
    upgradeable runs that have not started — the one starting first. Else any remaining marketable run —
    the one that starts last (runs without a start date come last). None when no run is marketable.
    """
    now = now or timezone.now()
    candidates = sorted((run for run in runs if run.marketable), key=lambda run: str(run.course_key))
    min_remaining = timedelta(days=CURRENT_RUN_MIN_REMAINING_DAYS)
    current = [
        run
        for run in candidates
        if run.start
        and run.start <= now
        and (run.end is None or run.end - now >= min_remaining)
        and is_upgradeable(run, now)
    ]
    if current:
        return max(current, key=lambda run: run.start)
    upcoming = [run for run in candidates if run.start and run.start > now and is_upgradeable(run, now)]
    if upcoming:
        return min(upcoming, key=lambda run: run.start)
    dated = [run for run in candidates if run.start]
    if dated:
        return max(dated, key=lambda run: run.start)
    return candidates[0] if candidates else None


def advertised_runs(
    catalog_courses: Iterable[CatalogCourse], now: datetime | None = None
) -> dict[int, CourseRun | None]:
    """``{catalog_course.pk: advertised run or None}`` for many courses, in two queries per batch
    (runs, then their modes). See ``choose_advertised_run`` for the rule."""
    courses = {cc.pk: cc for cc in catalog_courses}
    runs_by_course: dict[int, list[CourseRun]] = defaultdict(list)
    for id_batch in batches(list(courses)):
        for run in CourseRun.objects.filter(catalog_course_id__in=id_batch, marketable=True).prefetch_related("modes"):
            run.catalog_course = courses[run.catalog_course_id]
            runs_by_course[run.catalog_course_id].append(run)
    return {pk: choose_advertised_run(runs_by_course[pk], now) for pk in courses}


def advertised_run(catalog_course: CatalogCourse, now: datetime | None = None) -> CourseRun | None:
    """The run ``catalog_course`` advertises at ``now`` (default: now), or None. See ``choose_advertised_run``."""
    return advertised_runs([catalog_course], now)[catalog_course.pk]
