"""Course enrollments: one row per (user, course run), deactivated rather than deleted."""

import uuid

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from rollbook.catalog.data import ModeSlug


class CourseEnrollment(models.Model):
    """A user's enrollment in a course run, in a mode; ``is_active`` false means unenrolled."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="course_enrollments")
    course_run = models.ForeignKey("catalog.CourseRun", on_delete=models.PROTECT, related_name="enrollments")
    mode = models.CharField(max_length=64, choices=[(m.value, m.value) for m in ModeSlug])
    is_active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "course_run"], name="unique_enrollment_per_user_run"),
            models.CheckConstraint(
                condition=models.Q(mode__in=[m.value for m in ModeSlug]), name="course_enrollment_known_mode"
            ),
        ]
        indexes = [models.Index(fields=["course_run", "is_active"])]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.course_run_id} ({self.mode})"
