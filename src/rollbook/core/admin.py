"""Admin for role assignments. Granting and revoking go through ``rollbook.core.api``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import models
from simple_history.admin import SimpleHistoryAdmin

from rollbook.core import api as core_api
from rollbook.core.data import Role, Scope, ScopeKind
from rollbook.core.errors import InvalidInput
from rollbook.core.models import RoleAssignment


def adopt_saved_instance(target: models.Model, saved: models.Model) -> None:
    """Make the admin's unsaved ``target`` the row an api function saved, so the admin logs and redirects to it."""
    target.__dict__.update(saved.__dict__)


def add_api_errors(form: forms.Form, exc: InvalidInput) -> None:
    """Show an api InvalidInput on ``form``: errors of fields the form has go there, the rest above the form."""
    for field, field_messages in exc.errors.items():
        for message in field_messages:
            form.add_error(field if field in form.fields else None, message)


class RoleAssignmentForm(forms.ModelForm):
    """Grant a role: a user, a role and (except for operator and learner) a ``kind:key`` scope."""

    scope = forms.CharField(
        required=False,
        help_text="kind:key, e.g. org:MITx, program:<uuid>, customer:<uuid>. Leave empty for operator and learner.",
    )

    class Meta:
        model = RoleAssignment
        fields = ["user", "role"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            cleaned["role"], cleaned["parsed_scope"] = core_api.parse_role_and_scope(
                cleaned.get("role", ""), cleaned.get("scope")
            )
        except InvalidInput as exc:
            add_api_errors(self, exc)
        return cleaned


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(SimpleHistoryAdmin):
    """Role assignments are granted and revoked, never edited."""

    list_display = ["user", "role", "scope_kind", "scope_key", "created"]
    list_filter = ["role", "scope_kind"]
    search_fields = ["user__username", "user__email", "scope_key"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    date_hierarchy = "created"
    ordering = ["-created"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = RoleAssignmentForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "role", "scope"]
        return ["user", "role", "scope_kind", "scope_key", "created"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["user", "role", "scope_kind", "scope_key", "created"]

    def save_model(self, request, obj, form, change):
        if change:
            return  # assignments are immutable: revoke and grant instead
        role: Role = form.cleaned_data["role"]
        scope: Scope = form.cleaned_data["parsed_scope"]
        user = form.cleaned_data["user"]
        if not core_api.grant(user, role, scope):
            messages.info(request, f"{user} already held {role.value} at {scope}.")
        saved = RoleAssignment.objects.get(user=user, role=role.value, scope_kind=scope.kind.value, scope_key=scope.key)
        adopt_saved_instance(obj, saved)

    def delete_model(self, request, obj):
        core_api.revoke(obj.user, obj.role, Scope(ScopeKind(obj.scope_kind), obj.scope_key))

    def delete_queryset(self, request, queryset):
        for assignment in queryset.select_related("user"):
            self.delete_model(request, assignment)
