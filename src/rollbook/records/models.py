"""Course grades, subsection grades and certificates, as the course runtime reports them.

One row per (user, run) for course grades and certificates, and per (user, run, subsection) for
subsection grades; the runtime's later reports update the rows in place.
"""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from rollbook.catalog.data import ModeSlug
from rollbook.records.data import CertificateStatus


class CourseGrade(models.Model):
    """A learner's overall grade in a run: percent in [0, 1], letter grade, and whether it passes."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="course_grades")
    course_run = models.ForeignKey("catalog.CourseRun", on_delete=models.PROTECT, related_name="course_grades")
    percent = models.DecimalField(max_digits=5, decimal_places=4)
    letter_grade = models.CharField(max_length=64, blank=True, default="")
    passed = models.BooleanField(default=False)
    passed_timestamp = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "course_run"], name="unique_course_grade_per_user_run"),
            models.CheckConstraint(
                condition=models.Q(percent__gte=0) & models.Q(percent__lte=1), name="course_grade_percent_in_range"
            ),
            models.CheckConstraint(
                condition=models.Q(passed=False) | models.Q(passed_timestamp__isnull=False),
                name="course_grade_passed_has_timestamp",
            ),
        ]
        indexes = [models.Index(fields=["course_run", "user"])]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.course_run_id}: {self.percent}"


class SubsectionGrade(models.Model):
    """A learner's grade on one graded subsection (an assessment) of a run."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="subsection_grades")
    course_run = models.ForeignKey("catalog.CourseRun", on_delete=models.PROTECT, related_name="subsection_grades")
    subsection_id = models.CharField(max_length=255, help_text="The subsection's usage key in the course.")
    subsection_name = models.CharField(max_length=255, blank=True, default="")
    label = models.CharField(max_length=64, blank=True, default="", help_text="Short label, e.g. 'HW 01'.")
    category = models.CharField(max_length=128, blank=True, default="", help_text="Assignment type, e.g. Homework.")
    points_earned = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    points_possible = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    percent = models.DecimalField(max_digits=5, decimal_places=4, default=0)
    attempted = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "course_run", "subsection_id"], name="unique_subsection_grade_per_user_run"
            ),
            models.CheckConstraint(
                condition=models.Q(percent__gte=0) & models.Q(percent__lte=1), name="subsection_grade_percent_in_range"
            ),
            models.CheckConstraint(
                condition=models.Q(points_earned__gte=0)
                & models.Q(points_possible__gte=0)
                & models.Q(points_earned__lte=models.F("points_possible")),
                name="subsection_grade_points_in_range",
            ),
            models.CheckConstraint(condition=models.Q(subsection_id__gt=""), name="subsection_grade_id_not_empty"),
        ]
        indexes = [models.Index(fields=["course_run", "user"])]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.course_run_id} / {self.subsection_id}: {self.percent}"


class Certificate(models.Model):
    """A learner's certificate for a run, in the mode it was earned in."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="certificates")
    course_run = models.ForeignKey("catalog.CourseRun", on_delete=models.PROTECT, related_name="certificates")
    mode = models.CharField(max_length=64, choices=[(m.value, m.value) for m in ModeSlug])
    status = models.CharField(max_length=32, choices=[(s.value, s.value) for s in CertificateStatus])
    grade = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    passing = models.BooleanField(default=False)
    created = models.DateTimeField(help_text="When the certificate was issued (the runtime's time).")
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "course_run"], name="unique_certificate_per_user_run"),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in CertificateStatus]), name="certificate_known_status"
            ),
            models.CheckConstraint(
                condition=models.Q(mode__in=[m.value for m in ModeSlug]), name="certificate_known_mode"
            ),
            models.CheckConstraint(
                condition=models.Q(grade__isnull=True) | (models.Q(grade__gte=0) & models.Q(grade__lte=1)),
                name="certificate_grade_in_range",
            ),
        ]
        indexes = [models.Index(fields=["course_run", "user"])]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.course_run_id}: {self.status}"
