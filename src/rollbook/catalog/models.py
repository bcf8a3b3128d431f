"""Organizations, catalog courses, course runs and their modes.

Invariants are database constraints so they hold whatever writes the row. Case rules:
organization short names and course codes are unique case-insensitively; course keys are
stored and compared exactly (as opaque keys do), and two keys that differ only by case are
refused. Each case-insensitive rule is carried by a stored normalised column
(``rollbook.core.normalise.normalise_key``: trimmed and casefolded, so it holds for non-ASCII
letters on SQLite as on PostgreSQL). ``save()`` fills these columns; bulk writes must fill them
themselves (``catalog.api`` does).
"""

import uuid

from django.conf import settings
from django.db import models
from opaque_keys.edx.django.models import CourseKeyField
from simple_history.models import HistoricalRecords

from rollbook.catalog.data import (
    CATALOG_COURSE_KEY_PREFIX,
    LANGUAGE_CODE_PATTERN,
    ORGANIZATION_SHORT_NAME_PATTERN,
    ModeSlug,
    Pacing,
)
from rollbook.core.normalise import normalise_key

# Casefolding can make text up to three times longer ("ﬃ" becomes "ffi").
NORMALIZED_MAX_LENGTH = 3 * 255


def _with_normalized_field(kwargs: dict, source: str, normalized: str) -> dict:
    """``save()`` keyword arguments that also write ``normalized`` when ``update_fields`` names ``source``."""
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and source in update_fields:
        kwargs = {**kwargs, "update_fields": {*update_fields, normalized}}
    return kwargs


class Organization(models.Model):
    """A university, company or other body that offers courses."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    short_name = models.CharField(max_length=255, help_text="Letters, digits, '.', '_' and '-', e.g. MITx.")
    short_name_normalized = models.CharField(max_length=255, unique=True, editable=False)
    name = models.CharField(max_length=255, db_index=True)
    description = models.TextField(blank=True, default="")
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["short_name_normalized"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(short_name__regex=ORGANIZATION_SHORT_NAME_PATTERN),
                name="organization_short_name_chars",
            ),
            models.CheckConstraint(condition=models.Q(name__gt=""), name="organization_name_not_empty"),
        ]

    def save(self, *args, **kwargs):
        self.short_name_normalized = normalise_key(self.short_name)
        super().save(*args, **_with_normalized_field(kwargs, "short_name", "short_name_normalized"))

    def __str__(self) -> str:
        return self.short_name


class CatalogCourse(models.Model):
    """A course as the catalog offers it (ORG+CODE), independent of any run."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="catalog_courses")
    course_code = models.CharField(max_length=255)
    course_code_normalized = models.CharField(max_length=NORMALIZED_MAX_LENGTH, editable=False)
    title = models.CharField(max_length=255)
    language = models.CharField(max_length=64, default=settings.LANGUAGE_CODE)
    description = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["org__short_name_normalized", "course_code"]
        constraints = [
            models.UniqueConstraint(fields=["org", "course_code_normalized"], name="unique_course_code_per_org"),
            models.CheckConstraint(condition=models.Q(course_code__gt=""), name="catalog_course_code_not_empty"),
            models.CheckConstraint(condition=models.Q(title__gt=""), name="catalog_course_title_not_empty"),
            models.CheckConstraint(
                condition=models.Q(language__regex=LANGUAGE_CODE_PATTERN), name="catalog_course_language_code"
            ),
        ]

    def save(self, *args, **kwargs):
        self.course_code_normalized = normalise_key(self.course_code)
        super().save(*args, **_with_normalized_field(kwargs, "course_code", "course_code_normalized"))

    @property
    def key_str(self) -> str:
        """``catalog-course:ORG:CODE``, the public string key of a catalog course."""
        return f"{CATALOG_COURSE_KEY_PREFIX}:{self.org.short_name}:{self.course_code}"

    def __str__(self) -> str:
        return self.key_str


class CourseRun(models.Model):
    """One scheduled offering of a catalog course, identified by an opaque CourseKey."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    catalog_course = models.ForeignKey(CatalogCourse, on_delete=models.PROTECT, related_name="runs")
    course_key = CourseKeyField(max_length=255, unique=True, case_sensitive=True, editable=False)
    course_key_normalized = models.CharField(max_length=NORMALIZED_MAX_LENGTH, editable=False)
    run_code = models.CharField(max_length=128)
    title = models.CharField(max_length=255)
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    enrollment_start = models.DateTimeField(null=True, blank=True)
    enrollment_end = models.DateTimeField(null=True, blank=True)
    pacing = models.CharField(max_length=16, choices=[(p.value, p.value) for p in Pacing], default=Pacing.INSTRUCTOR)
    marketable = models.BooleanField(default=True, help_text="Shown in the catalog and eligible to be advertised.")
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["course_key"]
        constraints = [
            models.UniqueConstraint(fields=["course_key_normalized"], name="unique_course_key_normalized"),
            models.UniqueConstraint(
                fields=["catalog_course", "run_code"],
                condition=~models.Q(course_key__startswith="ccx"),
                name="unique_run_code_per_catalog_course",
            ),
            models.CheckConstraint(condition=models.Q(run_code__gt=""), name="course_run_code_not_empty"),
            models.CheckConstraint(condition=models.Q(title__gt=""), name="course_run_title_not_empty"),
            models.CheckConstraint(
                condition=models.Q(course_key__contains=models.F("run_code")), name="course_run_code_in_key"
            ),
            models.CheckConstraint(
                condition=models.Q(start__isnull=True)
                | models.Q(end__isnull=True)
                | models.Q(end__gt=models.F("start")),
                name="course_run_ends_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(enrollment_start__isnull=True)
                | models.Q(enrollment_end__isnull=True)
                | models.Q(enrollment_end__gt=models.F("enrollment_start")),
                name="course_run_enrollment_window_ordered",
            ),
        ]

    def save(self, *args, **kwargs):
        self.course_key_normalized = normalise_key(str(self.course_key))
        super().save(*args, **_with_normalized_field(kwargs, "course_key", "course_key_normalized"))

    def __str__(self) -> str:
        return str(self.course_key)


class CourseMode(models.Model):
    """A way to take a run (audit, verified, …) and what it costs, in integer cents."""

    course_run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="modes")
    slug = models.CharField(max_length=64, choices=[(m.value, m.value) for m in ModeSlug])
    name = models.CharField(max_length=255, blank=True, default="")
    price_cents = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, default="usd")
    upgrade_deadline = models.DateTimeField(null=True, blank=True)
    sku = models.CharField(max_length=255, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["course_run", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["course_run", "slug"], name="unique_mode_per_run"),
            models.CheckConstraint(condition=models.Q(price_cents__gte=0), name="course_mode_price_not_negative"),
            models.CheckConstraint(condition=models.Q(currency__regex=r"^[a-z]{3}$"), name="course_mode_currency"),
            models.CheckConstraint(
                condition=models.Q(slug__in=[m.value for m in ModeSlug]), name="course_mode_known_slug"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.course_run.course_key} {self.slug}"
