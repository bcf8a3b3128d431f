"""Admin pages of the programs app. Enrollment rows are written through ``programs.api`` (bulk writes,
linking); the admin shows them with their history and lets operators correct programs and curricula."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

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


@admin.register(ProgramEnrollment)
class ProgramEnrollmentAdmin(SimpleHistoryAdmin):
    list_display = ["external_user_key", "user", "program", "status", "modified"]
    list_filter = ["status", "program"]
    search_fields = ["external_user_key_normalized", "user__username", "user__email_normalized"]
    list_select_related = ["user", "program"]
    raw_id_fields = ["user"]
    readonly_fields = ["created", "modified"]


@admin.register(ProgramCourseEnrollment)
class ProgramCourseEnrollmentAdmin(SimpleHistoryAdmin):
    list_display = ["program_enrollment", "course_run", "status", "course_enrollment"]
    list_filter = ["status"]
    search_fields = ["program_enrollment__external_user_key_normalized", "course_run__course_key"]
    list_select_related = ["program_enrollment", "course_run"]
    raw_id_fields = ["program_enrollment", "course_run", "course_enrollment"]


@admin.register(CourseStaffAssignment)
class CourseStaffAssignmentAdmin(admin.ModelAdmin):
    list_display = ["program_course_enrollment", "role", "created"]
    raw_id_fields = ["program_course_enrollment"]


@admin.register(EnrollmentJob)
class EnrollmentJobAdmin(admin.ModelAdmin):
    list_display = ["uuid", "program", "kind", "state", "done", "total", "dry_run", "created"]
    list_filter = ["state", "kind", "dry_run"]
    search_fields = ["uuid", "program__title", "file_name"]
    readonly_fields = [f.name for f in EnrollmentJob._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False  # jobs are created by uploads
