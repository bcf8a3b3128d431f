"""Programs, their curricula, program and program-course enrollments, pending course-staff assignments,
and upload jobs.

Student keys (``external_user_key``) are the university's own identifiers. They are stored as given
and in a normalised column (``rollbook.core.normalise.normalise_key``) that carries the uniqueness
rules, so keys differing only by case are one student on SQLite and PostgreSQL alike.
"""

import uuid

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from rollbook.core.normalise import normalise_key
from rollbook.programs.data import (
    RUNNING_JOB_STATES,
    CourseStaffRole,
    JobKind,
    JobState,
    ProgramCourseEnrollmentStatus,
    ProgramEnrollmentStatus,
    ProgramType,
)

KEY_MAX_LENGTH = 255
# Casefolding can make text up to three times longer.
NORMALIZED_KEY_MAX_LENGTH = 3 * KEY_MAX_LENGTH


def _choices(enum) -> list[tuple[str, str]]:
    return [(member.value, member.value) for member in enum]


class Program(models.Model):
    """A degree or certificate program: a set of curricula made of catalog courses."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True)
    title = models.CharField(max_length=255)
    program_type = models.CharField(max_length=32, choices=_choices(ProgramType), default=ProgramType.MASTERS)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["title"]
        constraints = [
            models.CheckConstraint(condition=models.Q(title__gt=""), name="program_title_not_empty"),
            models.CheckConstraint(
                condition=models.Q(program_type__in=[t.value for t in ProgramType]), name="program_known_type"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ProgramOrganization(models.Model):
    """An authoring organization of a program, in order; position 0 owns the identity providers that link
    the program's students."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="authoring_organizations")
    organization = models.ForeignKey("catalog.Organization", on_delete=models.PROTECT, related_name="programs")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["program", "position"]
        constraints = [
            models.UniqueConstraint(fields=["program", "organization"], name="unique_program_organization"),
            models.UniqueConstraint(fields=["program", "position"], name="unique_program_organization_position"),
        ]

    def __str__(self) -> str:
        return f"{self.program_id}#{self.position}: {self.organization_id}"


class Curriculum(models.Model):
    """One version of a program's course list."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True)
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="curricula")
    name = models.CharField(max_length=255, blank=True, default="")
    is_active = models.BooleanField(default=True)
    catalog_courses = models.ManyToManyField("catalog.CatalogCourse", through="CurriculumCourse", related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["program", "created"]

    def __str__(self) -> str:
        return self.name or str(self.uuid)


class CurriculumCourse(models.Model):
    """A catalog course belonging to a curriculum."""

    curriculum = models.ForeignKey(Curriculum, on_delete=models.CASCADE, related_name="curriculum_courses")
    catalog_course = models.ForeignKey("catalog.CatalogCourse", on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["curriculum", "position"]
        constraints = [
            models.UniqueConstraint(fields=["curriculum", "catalog_course"], name="unique_curriculum_course"),
        ]

    def __str__(self) -> str:
        return f"{self.curriculum_id}: {self.catalog_course_id}"


class ProgramEnrollment(models.Model):
    """A student's enrollment in a program, by the university's student key; ``user`` is set once linked."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="program_enrollments"
    )
    external_user_key = models.CharField(max_length=KEY_MAX_LENGTH, null=True, blank=True)
    external_user_key_normalized = models.CharField(max_length=NORMALIZED_KEY_MAX_LENGTH, null=True, editable=False)
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="enrollments")
    curriculum = models.ForeignKey(Curriculum, on_delete=models.PROTECT, related_name="enrollments")
    status = models.CharField(max_length=16, choices=_choices(ProgramEnrollmentStatus))
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True, db_index=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            # One row per student key and program, whatever the curriculum: writes match on program and key.
            models.UniqueConstraint(
                fields=["program", "external_user_key_normalized"], name="unique_program_enrollment_per_key"
            ),
            models.UniqueConstraint(
                fields=["program", "curriculum", "user"], name="unique_program_enrollment_per_user"
            ),
            models.CheckConstraint(
                # spelled out: a CHECK whose condition is NULL passes, so NULL keys must be ruled out explicitly
                condition=models.Q(user__isnull=False)
                | models.Q(external_user_key_normalized__isnull=False, external_user_key_normalized__gt=""),
                name="program_enrollment_has_user_or_key",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in ProgramEnrollmentStatus]),
                name="program_enrollment_known_status",
            ),
        ]
        indexes = [models.Index(fields=["external_user_key_normalized"], name="program_enrollment_key_idx")]

    def save(self, *args, **kwargs):
        self.external_user_key_normalized = (
            normalise_key(self.external_user_key) if self.external_user_key is not None else None
        )
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "external_user_key" in update_fields:
            kwargs["update_fields"] = {*update_fields, "external_user_key_normalized"}
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.external_user_key or self.user_id} in {self.program_id} ({self.status})"


class ProgramCourseEnrollment(models.Model):
    """A program student's enrollment in one course run of the program, realised as a course enrollment once
    the student is linked to an account."""

    program_enrollment = models.ForeignKey(
        ProgramEnrollment, on_delete=models.CASCADE, related_name="program_course_enrollments"
    )
    course_run = models.ForeignKey("catalog.CourseRun", on_delete=models.PROTECT, related_name="+")
    course_enrollment = models.ForeignKey(
        "enrollments.CourseEnrollment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=16, choices=_choices(ProgramCourseEnrollmentStatus))
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["program_enrollment", "course_run"], name="unique_program_course_enrollment"
            ),
            # At most one active program-course enrollment realises a course enrollment (upstream left this
            # rule to code; here the database holds it).
            models.UniqueConstraint(
                fields=["course_enrollment"],
                condition=models.Q(status=ProgramCourseEnrollmentStatus.ACTIVE, course_enrollment__isnull=False),
                name="one_active_program_course_enrollment_per_course_enrollment",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in ProgramCourseEnrollmentStatus]),
                name="program_course_enrollment_known_status",
            ),
        ]
        indexes = [models.Index(fields=["course_run", "status"], name="pce_run_status_idx")]

    def __str__(self) -> str:
        return f"{self.program_enrollment_id} in {self.course_run_id} ({self.status})"


class CourseStaffAssignment(models.Model):
    """A course-staff role waiting for its program student to be linked to an account."""

    program_course_enrollment = models.ForeignKey(
        ProgramCourseEnrollment, on_delete=models.CASCADE, related_name="staff_assignments"
    )
    role = models.CharField(max_length=16, choices=_choices(CourseStaffRole), default=CourseStaffRole.STAFF)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program_course_enrollment", "role"], name="unique_staff_assignment"),
        ]

    def __str__(self) -> str:
        return f"{self.role} for {self.program_course_enrollment_id}"


class EnrollmentJob(models.Model):
    """An uploaded CSV of program or program-course enrollments, written by a background task."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=32, choices=_choices(JobKind))
    state = models.CharField(max_length=16, choices=_choices(JobState), default=JobState.PENDING)
    dry_run = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    file_name = models.CharField(max_length=255, blank=True, default="")
    rows = models.JSONField(default=list, help_text="The parsed rows to write, in file order.")
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    result_csv = models.TextField(blank=True, default="")
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            # One write job at a time per program: a second upload while one runs is refused.
            models.UniqueConstraint(
                fields=["program"],
                condition=models.Q(state__in=sorted(RUNNING_JOB_STATES), dry_run=False),
                name="one_running_write_job_per_program",
            ),
            models.CheckConstraint(condition=models.Q(done__lte=models.F("total")), name="job_done_within_total"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.uuid} ({self.state})"
