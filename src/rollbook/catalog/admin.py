"""Django admin for the catalog: every model with its history; every save, delete and action calls catalog.api.

Model forms check field types and database constraints; the rules only ``catalog.api`` knows (key
consistency, renames of organizations with runs, case-only duplicates) are reported as error messages
and nothing is saved.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect
from simple_history.admin import SimpleHistoryAdmin

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSpec, Pacing
from rollbook.catalog.models import CatalogCourse, CourseMode, CourseRun, Organization
from rollbook.core.errors import Conflict, InvalidInput


def _adopt(target, saved) -> None:
    """Make the admin's unsaved ``target`` the object ``catalog.api`` saved, so the admin's own
    bookkeeping (log entry, redirect) refers to it."""
    target.__dict__.update(saved.__dict__)


def _error_text(exc: InvalidInput) -> str:
    return "; ".join(
        f"{field}: {' '.join(messages_)}" if field != "non_field_errors" else " ".join(messages_)
        for field, messages_ in exc.errors.items()
    )


class _ApiAdmin(SimpleHistoryAdmin):
    """Turns InvalidInput/Conflict from catalog.api into an error message (the change is rolled back)."""

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        try:
            with transaction.atomic():
                return super().changeform_view(request, object_id, form_url, extra_context)
        except InvalidInput as exc:
            self.message_user(request, f"Not saved: {_error_text(exc)}", messages.ERROR)
        except Conflict as exc:
            self.message_user(request, f"Not saved: {exc}", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request: HttpRequest, object_id, extra_context=None):
        try:
            with transaction.atomic():
                return super().delete_view(request, object_id, extra_context)
        except Conflict as exc:
            self.message_user(request, f"Not deleted: {exc}", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


# --- organizations -------------------------------------------------------------------------------


@admin.register(Organization)
class OrganizationAdmin(_ApiAdmin):
    list_display = ["short_name", "name", "active", "created", "modified"]
    list_filter = ["active"]
    search_fields = ["short_name", "name"]
    readonly_fields = ["uuid", "created", "modified"]
    fields = ["short_name", "name", "description", "active", "uuid", "created", "modified"]
    actions = ["activate", "deactivate"]

    def save_model(self, request: HttpRequest, obj: Organization, form, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in ("short_name", "name", "description", "active")}
        if change:
            saved = catalog_api.update_organization(Organization.objects.get(pk=obj.pk), **data)
        else:
            saved = catalog_api.create_organization(data.pop("short_name"), **data)
        _adopt(obj, saved)

    def delete_model(self, request: HttpRequest, obj: Organization) -> None:
        catalog_api.delete_organization(obj)

    @admin.action(description="Activate the selected organizations")
    def activate(self, request: HttpRequest, queryset) -> None:
        count = catalog_api.set_organizations_active(list(queryset), active=True)
        self.message_user(request, f"Activated {count} organization(s).")

    @admin.action(description="Deactivate the selected organizations")
    def deactivate(self, request: HttpRequest, queryset) -> None:
        count = catalog_api.set_organizations_active(list(queryset), active=False)
        self.message_user(request, f"Deactivated {count} organization(s).")


# --- catalog courses -----------------------------------------------------------------------------


class CourseRunInline(admin.TabularInline):
    """The course's runs, read-only here: add and change runs on the course run page."""

    model = CourseRun
    fields = ["course_key", "title", "start", "end", "pacing", "marketable"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class CatalogCourseAddForm(forms.ModelForm):
    org_short_name = forms.CharField(
        label="Organization", max_length=255, help_text="Short name; created when auto-create is on."
    )

    class Meta:
        model = CatalogCourse
        fields = ["course_code", "title", "language", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["title"].required = False
        self.fields["title"].help_text = "Defaults to the course code."


@admin.register(CatalogCourse)
class CatalogCourseAdmin(_ApiAdmin):
    list_display = ["key_str", "title", "language", "org", "created"]
    list_filter = ["language", "org"]
    list_select_related = ["org"]
    search_fields = ["course_code", "title", "org__short_name"]
    readonly_fields = ["uuid", "key_str", "created", "modified"]
    inlines = [CourseRunInline]

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        if obj is None:
            kwargs["form"] = CatalogCourseAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inlines(self, request: HttpRequest, obj=None):
        return self.inlines if obj is not None else []

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return ["org_short_name", "course_code", "title", "language", "description"]
        return ["key_str", "title", "language", "description", "uuid", "created", "modified"]

    def save_model(self, request: HttpRequest, obj: CatalogCourse, form, change: bool) -> None:
        data = form.cleaned_data
        if change:
            saved = catalog_api.update_catalog_course(
                obj.pk, title=data["title"], language=data["language"], description=data["description"]
            )
        else:
            saved = catalog_api.create_catalog_course(
                data["org_short_name"],
                data["course_code"],
                title=data["title"] or None,
                language=data["language"],
                description=data["description"],
            )
        _adopt(obj, saved)

    def delete_model(self, request: HttpRequest, obj: CatalogCourse) -> None:
        catalog_api.delete_catalog_course(obj)


# --- course runs and modes -----------------------------------------------------------------------


class CourseModeInline(admin.TabularInline):
    """The run's modes; saved through catalog.api.set_course_mode / delete_course_mode."""

    model = CourseMode
    fields = ["slug", "name", "price_cents", "currency", "upgrade_deadline"]
    extra = 0


class CourseRunAddForm(forms.ModelForm):
    new_course_key = forms.CharField(
        label="Course key",
        max_length=255,
        help_text="course-v1:ORG+CODE+RUN, or a CCX of an existing run: ccx-v1:ORG+CODE+RUN+ccx@N",
    )
    language = forms.CharField(
        max_length=64, required=False, help_text="Used only when the catalog course is created with the run."
    )
    modes = forms.CharField(
        required=False, help_text="Optional, e.g. audit:0;verified:4900@2027-01-31T00:00Z (prices in cents)."
    )

    class Meta:
        model = CourseRun
        fields = ["title", "start", "end", "enrollment_start", "enrollment_end", "pacing", "marketable"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["title"].required = False

    def clean_modes(self) -> list[ModeSpec]:
        try:
            return catalog_api.parse_mode_specs(self.cleaned_data.get("modes") or "")
        except InvalidInput as exc:
            raise forms.ValidationError(exc.errors["modes"]) from None


@admin.register(CourseRun)
class CourseRunAdmin(_ApiAdmin):
    list_display = ["course_key", "title", "start", "end", "enrollment_end", "pacing", "marketable"]
    list_filter = ["pacing", "marketable", "catalog_course__org", "catalog_course__language"]
    list_select_related = ["catalog_course__org"]
    search_fields = ["course_key", "title", "catalog_course__org__short_name"]
    date_hierarchy = "start"
    readonly_fields = ["uuid", "course_key", "catalog_course", "run_code", "created", "modified"]
    inlines = [CourseModeInline]
    actions = ["mark_marketable", "mark_unmarketable"]

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        if obj is None:
            kwargs["form"] = CourseRunAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj=None):
        schedule = ["start", "end", "enrollment_start", "enrollment_end", "pacing", "marketable"]
        if obj is None:
            return ["new_course_key", "title", "language", *schedule, "modes"]
        return ["course_key", "catalog_course", "run_code", "title", *schedule, "uuid", "created", "modified"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_inlines(self, request: HttpRequest, obj=None):
        return self.inlines if obj is not None else []

    def save_model(self, request: HttpRequest, obj: CourseRun, form, change: bool) -> None:
        data = form.cleaned_data
        schedule = {name: data[name] for name in ("start", "end", "enrollment_start", "enrollment_end")}
        if change:
            saved = catalog_api.update_course_run(
                CourseRun.objects.get(pk=obj.pk),
                title=data["title"],
                pacing=data["pacing"],
                marketable=data["marketable"],
                **schedule,
            )
        else:
            saved = catalog_api.create_course_run(
                data["new_course_key"],
                title=data["title"] or None,
                language=data["language"] or None,
                pacing=data["pacing"] or Pacing.INSTRUCTOR,
                marketable=data["marketable"],
                modes=data["modes"],
                **schedule,
            )
        _adopt(obj, saved)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        run = form.instance
        deleted = set(formset.deleted_forms)
        # The admin's change message reads these three lists, which formset.save() would have filled.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for mode_form in formset.forms:
            data = mode_form.cleaned_data
            if not data or (not mode_form.has_changed() and mode_form not in deleted):
                continue
            stored = mode_form.instance if mode_form.instance.pk else None
            if stored and (mode_form in deleted or stored.slug != data["slug"]):
                catalog_api.delete_course_mode(run, stored.slug)
                formset.deleted_objects.append(stored)
            if mode_form in deleted:
                continue
            mode = catalog_api.set_course_mode(
                run,
                data["slug"],
                price_cents=data["price_cents"],
                currency=data["currency"],
                upgrade_deadline=data["upgrade_deadline"],
                name=data["name"],
            )
            if stored and stored.slug == mode.slug:
                formset.changed_objects.append((mode, mode_form.changed_data))
            else:
                formset.new_objects.append(mode)

    def delete_model(self, request: HttpRequest, obj: CourseRun) -> None:
        catalog_api.delete_course_run(obj.course_key)

    @admin.action(description="Mark the selected runs marketable")
    def mark_marketable(self, request: HttpRequest, queryset) -> None:
        count = catalog_api.set_runs_marketable([run.course_key for run in queryset], marketable=True)
        self.message_user(request, f"{count} run(s) marked marketable.")

    @admin.action(description="Mark the selected runs not marketable")
    def mark_unmarketable(self, request: HttpRequest, queryset) -> None:
        count = catalog_api.set_runs_marketable([run.course_key for run in queryset], marketable=False)
        self.message_user(request, f"{count} run(s) marked not marketable.")


@admin.register(CourseMode)
class CourseModeAdmin(_ApiAdmin):
    list_display = ["course_run", "slug", "price_cents", "currency", "upgrade_deadline"]
    list_filter = ["slug", "currency"]
    list_select_related = ["course_run"]
    search_fields = ["course_run__course_key", "course_run__title"]
    raw_id_fields = ["course_run"]
    fields = ["course_run", "slug", "name", "price_cents", "currency", "upgrade_deadline", "sku"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return ["course_run", "slug", "sku"] if obj is not None else ["sku"]

    def save_model(self, request: HttpRequest, obj: CourseMode, form, change: bool) -> None:
        data = form.cleaned_data
        saved = catalog_api.set_course_mode(
            obj.course_run,
            obj.slug,
            price_cents=data["price_cents"],
            currency=data["currency"],
            upgrade_deadline=data["upgrade_deadline"],
            name=data["name"],
        )
        _adopt(obj, saved)

    def delete_model(self, request: HttpRequest, obj: CourseMode) -> None:
        catalog_api.delete_course_mode(obj.course_run, obj.slug)
