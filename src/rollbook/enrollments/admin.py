"""Django admin for course enrollments. Every change goes through ``enrollments.api``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from simple_history.admin import SimpleHistoryAdmin

from rollbook.core.errors import InvalidInput, NotFound
from rollbook.enrollments import api
from rollbook.enrollments.models import CourseEnrollment


class CourseEnrollmentForm(forms.ModelForm):
    """Checks the mode against the modes the run offers before anything is saved."""

    class Meta:
        model = CourseEnrollment
        fields = ["user", "course_run", "mode", "is_active"]

    def clean(self):
        cleaned = super().clean()
        run = cleaned.get("course_run") or getattr(self.instance, "course_run", None)
        mode = cleaned.get("mode")
        if run is not None and mode:
            offered = api.offered_modes(run.course_key)
            if mode not in offered:
                self.add_error("mode", f"{run.course_key} offers only: {', '.join(sorted(offered))}.")
        return cleaned


@admin.register(CourseEnrollment)
class CourseEnrollmentAdmin(SimpleHistoryAdmin):
    """Operators browse and repair enrollments; adding enrolls (window not enforced), editing patches."""

    form = CourseEnrollmentForm
    list_display = ["uuid", "user", "course_key", "mode", "is_active", "created", "modified"]
    list_filter = ["is_active", "mode", "created"]
    search_fields = ["user__username", "user__email", "course_run__course_key", "=uuid"]
    list_select_related = ["user", "course_run"]
    raw_id_fields = ["user", "course_run"]
    readonly_fields = ["uuid", "created", "modified"]
    date_hierarchy = "created"
    actions = ["deactivate_selected"]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return [*self.readonly_fields, "user", "course_run"]
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # enrollments are deactivated, never deleted

    @admin.display(description="course key", ordering="course_run__course_key")
    def course_key(self, enrollment: CourseEnrollment) -> str:
        return str(enrollment.course_run.course_key)

    @admin.action(description="Deactivate (unenroll) selected enrollments")
    def deactivate_selected(self, request, queryset):
        count = api.bulk_unenroll(queryset.values_list("uuid", flat=True))
        self.message_user(request, f"Deactivated {count} enrollment(s).", messages.SUCCESS)

    def save_model(self, request, obj, form, change):
        try:
            if change:
                api.update_enrollment(obj.uuid, mode=obj.mode, is_active=obj.is_active, skip_access_checks=True)
            else:
                data = api.enroll(obj.user, obj.course_run.course_key, obj.mode, skip_access_checks=True)
                if not obj.is_active:
                    data = api.update_enrollment(data.uuid, is_active=False)
                stored = CourseEnrollment.objects.get(uuid=data.uuid)
                obj.pk, obj.uuid, obj.created, obj.modified = stored.pk, stored.uuid, stored.created, stored.modified
        except (InvalidInput, NotFound) as exc:  # raced with another change after the form was checked
            self.message_user(request, str(exc), messages.ERROR)
