"""Django admin for learner records: course grades, subsection grades and certificates, with row history.

Course grades and certificates are recorded through ``records.api`` (the same path the course runtime's
reports take), so an operator's repair follows the same rules; its errors become a message and nothing is
saved. Subsection grades are only reported by the runtime and are read-only here. Records are never deleted.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from rollbook.core.admin import adopt_saved_instance
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.records import api
from rollbook.records.models import Certificate, CourseGrade, SubsectionGrade


class _RecordAdmin(SimpleHistoryAdmin):
    """Saves go through ``records.api``; its errors roll the change back and show as a message. The learner
    and the run of a record are fixed once it exists."""

    raw_id_fields = ["user", "course_run"]
    list_select_related = ["user", "course_run"]
    search_fields = ["user__username", "user__email", "course_run__course_key"]
    show_full_result_count = False

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        try:
            with transaction.atomic():
                return super().changeform_view(request, object_id, form_url, extra_context)
        except (InvalidInput, NotFound) as exc:
            self.message_user(request, f"Not saved: {exc}", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # records are corrected, not deleted


class CourseGradeForm(forms.ModelForm):
    class Meta:
        model = CourseGrade
        fields = ["user", "course_run", "percent", "letter_grade", "passed", "passed_timestamp"]
        help_texts = {"passed_timestamp": "Empty for a passing grade: now (or the time it first passed)."}

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("passed") and not cleaned.get("passed_timestamp"):
            # what records.api gives a new passing grade; an existing one shows its own time in the form
            cleaned["passed_timestamp"] = timezone.now()
        return cleaned


@admin.register(CourseGrade)
class CourseGradeAdmin(_RecordAdmin):
    form = CourseGradeForm
    list_display = ["user", "course_run", "percent", "letter_grade", "passed", "passed_timestamp", "modified"]
    list_filter = ["passed"]
    fields = ["user", "course_run", "percent", "letter_grade", "passed", "passed_timestamp", "created", "modified"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return ["modified"] + (["created"] if obj is None else ["user", "course_run", "created"])

    def save_model(self, request: HttpRequest, obj: CourseGrade, form, change: bool) -> None:
        data = form.cleaned_data
        saved = api.record_course_grade(
            obj.user,
            str(obj.course_run.course_key),
            percent=data["percent"],
            letter_grade=data.get("letter_grade") or "",
            passed=data["passed"],
            passed_timestamp=data.get("passed_timestamp"),
        )
        adopt_saved_instance(obj, saved)


@admin.register(Certificate)
class CertificateAdmin(_RecordAdmin):
    list_display = ["user", "course_run", "mode", "status", "grade", "passing", "created"]
    list_filter = ["status", "mode", "passing"]
    fields = ["user", "course_run", "mode", "status", "grade", "passing", "created", "modified"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return ["passing", "modified"] + ([] if obj is None else ["user", "course_run"])

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.base_fields["created"].required = False
        form.base_fields["created"].help_text = "When it was issued; empty means now (or unchanged)."
        return form

    def save_model(self, request: HttpRequest, obj: Certificate, form, change: bool) -> None:
        data = form.cleaned_data
        saved = api.record_certificate(
            obj.user,
            str(obj.course_run.course_key),
            mode=data["mode"],
            status=data["status"],
            grade=data.get("grade"),
            created=data.get("created"),
        )
        adopt_saved_instance(obj, saved)


@admin.register(SubsectionGrade)
class SubsectionGradeAdmin(admin.ModelAdmin):
    """Reported by the course runtime; read-only."""

    list_display = ["user", "course_run", "label", "subsection_name", "points_earned", "points_possible", "percent"]
    list_filter = ["attempted", "category"]
    search_fields = ["user__username", "user__email", "course_run__course_key", "subsection_id", "subsection_name"]
    list_select_related = ["user", "course_run"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
