"""Admin pages of the programs app, with row history.

Program and program-course enrollments are read-only here: they change only through ``programs.api`` (bulk
writes and linking), which the admin actions call, so every change follows the same rules and writes history
rows. Operators correct programs and curricula on their pages.
"""

from collections import defaultdict

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from rollbook.programs import api
from rollbook.programs.models import (
    CourseStaffAssignment,
    Curriculum,
    CurriculumCourse,
    EnrollmentJob,
    Program,
    ProgramCourseEnrollment,
    ProgramEnrollment,
    ProgramOrganization,
)


class ReadOnlyAdminMixin:
    """Rows that only ``programs.api`` writes: viewable (with history) and acted on, never edited or added."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # view only; the actions change rows through programs.api

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _report(modeladmin: admin.ModelAdmin, request: HttpRequest, results: dict[str, str], ok: set[str]) -> None:
    refused = {key: status for key, status in results.items() if status not in ok}
    written = len(results) - len(refused)
    modeladmin.message_user(request, f"{written} enrollment(s) set.", messages.SUCCESS)
    if refused:
        shown = ", ".join(f"{key}: {status}" for key, status in sorted(refused.items())[:20])
        modeladmin.message_user(request, f"{len(refused)} refused ({shown}).", messages.WARNING)


def _program_status_action(status: str):
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[ProgramEnrollment]) -> None:
        keys_by_program: dict[int, list[str]] = defaultdict(list)
        programs = {}
        for enrollment in queryset.select_related("program"):
            if enrollment.external_user_key:
                keys_by_program[enrollment.program_id].append(enrollment.external_user_key)
                programs[enrollment.program_id] = enrollment.program
        results: dict[str, str] = {}
        for program_id, keys in keys_by_program.items():
            requests = [api.ProgramEnrollmentRequest(key, status) for key in keys]
            results.update(api.write_program_enrollments(programs[program_id], requests, create=False, update=True))
        _report(modeladmin, request, results, {status})

    action.__name__ = f"set_program_status_{status}"
    return admin.action(description=f"Set program status to {status}")(action)


def _course_status_action(status: str):
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[ProgramCourseEnrollment]) -> None:
        keys_by_target: dict[tuple[int, str], list[str]] = defaultdict(list)
        programs = {}
        for enrollment in queryset.select_related("program_enrollment__program", "course_run"):
            program_enrollment = enrollment.program_enrollment
            if program_enrollment.external_user_key:
                target = (program_enrollment.program_id, str(enrollment.course_run.course_key))
                keys_by_target[target].append(program_enrollment.external_user_key)
                programs[program_enrollment.program_id] = program_enrollment.program
        results: dict[str, str] = {}
        for (program_id, course_key), keys in keys_by_target.items():
            requests = [api.ProgramCourseEnrollmentRequest(key, status) for key in keys]
            outcome = api.write_program_course_enrollments(
                programs[program_id], course_key, requests, create=False, update=True
            )
            results.update({f"{key} ({course_key})": value for key, value in outcome.items()})
        _report(modeladmin, request, results, {status})

    action.__name__ = f"set_course_status_{status}"
    return admin.action(description=f"Set program-course status to {status}")(action)


class ProgramOrganizationInline(admin.TabularInline):
    model = ProgramOrganization
    extra = 0
    autocomplete_fields = ["organization"]


class CurriculumInline(admin.TabularInline):
    model = Curriculum
    extra = 0
    fields = ["uuid", "name", "is_active"]
    show_change_link = True


@admin.register(Program)
class ProgramAdmin(SimpleHistoryAdmin):
    list_display = ["title", "program_type", "uuid", "created"]
    list_filter = ["program_type"]
    search_fields = ["title", "uuid"]
    inlines = [ProgramOrganizationInline, CurriculumInline]


class CurriculumCourseInline(admin.TabularInline):
    model = CurriculumCourse
    extra = 0
    autocomplete_fields = ["catalog_course"]


@admin.register(Curriculum)
class CurriculumAdmin(SimpleHistoryAdmin):
    list_display = ["uuid", "name", "program", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["uuid", "name", "program__title"]
    inlines = [CurriculumCourseInline]
    actions = ["activate", "deactivate"]

    @admin.action(description="Mark selected curricula active")
    def activate(self, request: HttpRequest, queryset: QuerySet[Curriculum]) -> None:
        changed = api.set_curricula_active(list(queryset), active=True)
        self.message_user(request, f"{changed} curriculum(s) activated.", messages.SUCCESS)

    @admin.action(description="Mark selected curricula inactive")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Curriculum]) -> None:
        changed = api.set_curricula_active(list(queryset), active=False)
        self.message_user(request, f"{changed} curriculum(s) deactivated.", messages.SUCCESS)


@admin.register(ProgramEnrollment)
class ProgramEnrollmentAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = ["external_user_key", "user", "program", "curriculum", "status", "modified"]
    list_filter = ["status", "program"]
    search_fields = ["external_user_key_normalized", "user__username", "user__email_normalized"]
    list_select_related = ["user", "program", "curriculum"]
    actions = [_program_status_action(status.value) for status in api.ProgramEnrollmentStatus]


@admin.register(ProgramCourseEnrollment)
class ProgramCourseEnrollmentAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = ["program_enrollment", "course_run", "status", "course_enrollment", "modified"]
    list_filter = ["status"]
    search_fields = ["program_enrollment__external_user_key_normalized", "course_run__course_key"]
    list_select_related = ["program_enrollment", "course_run", "course_enrollment"]
    actions = [_course_status_action(status.value) for status in api.ProgramCourseEnrollmentStatus]


@admin.register(CourseStaffAssignment)
class CourseStaffAssignmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["program_course_enrollment", "role", "created"]
    list_select_related = ["program_course_enrollment__program_enrollment", "program_course_enrollment__course_run"]


@admin.register(EnrollmentJob)
class EnrollmentJobAdmin(admin.ModelAdmin):
    list_display = ["uuid", "program", "kind", "state", "done", "total", "dry_run", "created"]
    list_filter = ["state", "kind", "dry_run"]
    search_fields = ["uuid", "program__title", "file_name"]
    readonly_fields = [f.name for f in EnrollmentJob._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False  # jobs are created by uploads
