"""Admin for users, identity providers, SSO links and API clients.

Creation and the admin actions go through ``rollbook.identity.api``; an API client's secret is
never displayed except once, in a message, right after it was made.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from simple_history.admin import SimpleHistoryAdmin

from rollbook.core.admin import add_api_errors, adopt_saved_instance
from rollbook.core.errors import Conflict, InvalidInput, NotFound
from rollbook.core.models import RoleAssignment
from rollbook.identity import api as identity_api
from rollbook.identity.models import ApiClient, IdentityProvider, SsoLink, User

# --- users --------------------------------------------------------------------------------------


class UserCreationForm(AdminUserCreationForm):
    """Username, email and an optional password; emails are unique ignoring case."""

    email = forms.EmailField(max_length=254)

    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if identity_api.email_in_use(email):
            raise forms.ValidationError("A user with this email address already exists.")
        return email


class UserEditForm(UserChangeForm):
    """The change form, with the case-insensitive email rule."""

    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if identity_api.email_in_use(email, exclude=self.instance):
            raise forms.ValidationError("Another user has this email address.")
        return email


class RoleAssignmentInline(admin.TabularInline):
    """The user's roles, read-only: grant and revoke them under Core > Role assignments."""

    model = RoleAssignment
    fields = ["role", "scope_kind", "scope_key", "created"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class SsoLinkInline(admin.TabularInline):
    """The user's SSO links, read-only: link and unlink under Identity > SSO links."""

    model = SsoLink
    fields = ["provider", "external_user_key", "created"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(User)
class UserAdmin(SimpleHistoryAdmin, DjangoUserAdmin):
    """People and service accounts, with their roles and SSO links."""

    form = UserEditForm
    add_form = UserCreationForm
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "first_name", "last_name", "usable_password", "password1", "password2"),
            },
        ),
    )
    fieldsets = (
        (None, {"fields": ("username", "password", "uuid", "is_service_account")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    readonly_fields = ["uuid", "is_service_account", "last_login", "date_joined"]
    list_display = ["username", "email", "first_name", "last_name", "is_active", "is_staff", "is_service_account"]
    list_filter = ["is_active", "is_staff", "is_superuser", "is_service_account"]
    search_fields = ["username", "email", "first_name", "last_name", "=uuid"]
    ordering = ["username"]
    inlines = [RoleAssignmentInline, SsoLinkInline]
    actions = ["make_operators", "deactivate_users", "activate_users"]

    def get_inlines(self, request, obj):
        return [] if obj is None else self.inlines

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        wants_password = form.cleaned_data.get("usable_password") != "false"
        try:
            saved = identity_api.create_user(
                obj.username,
                obj.email,
                password=(form.cleaned_data.get("password1") or None) if wants_password else None,
                validate_password=False,  # the form has validated it
                first_name=form.cleaned_data.get("first_name", ""),
                last_name=form.cleaned_data.get("last_name", ""),
            )
        except InvalidInput as exc:  # lost a race with another writer; the form checked everything else
            raise forms.ValidationError(str(exc)) from None
        adopt_saved_instance(obj, saved)

    @admin.action(description="Make operators (staff, superuser, operator role)")
    def make_operators(self, request, queryset):
        done = 0
        for user in queryset:
            try:
                if identity_api.make_operator(user):
                    done += 1
            except InvalidInput as exc:
                self.message_user(request, f"{user}: {exc}", messages.ERROR)
        self.message_user(request, f"{done} user(s) made operators.")

    @admin.action(description="Deactivate selected users")
    def deactivate_users(self, request, queryset):
        done = sum(identity_api.deactivate_user(user) for user in queryset)
        self.message_user(request, f"{done} user(s) deactivated.")

    @admin.action(description="Activate selected users")
    def activate_users(self, request, queryset):
        done = sum(identity_api.activate_user(user) for user in queryset)
        self.message_user(request, f"{done} user(s) activated.")


# --- identity providers -------------------------------------------------------------------------


class IdentityProviderForm(forms.ModelForm):
    class Meta:
        model = IdentityProvider
        fields = ["slug", "name", "organization", "enabled"]

    def clean_slug(self) -> str:
        return (self.cleaned_data.get("slug") or "").strip().lower()


@admin.register(IdentityProvider)
class IdentityProviderAdmin(SimpleHistoryAdmin):
    form = IdentityProviderForm
    list_display = ["slug", "name", "organization", "enabled", "created"]
    list_filter = ["enabled"]
    search_fields = ["slug", "name"]
    list_select_related = ["organization"]
    ordering = ["slug"]
    actions = ["enable_providers", "disable_providers"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["slug", "enabled", "created", "modified"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if change:
                identity_api.update_identity_provider(obj.slug, name=data["name"], organization=data["organization"])
            else:
                saved = identity_api.create_identity_provider(
                    data["slug"], data["name"], organization=data["organization"], enabled=data["enabled"]
                )
                adopt_saved_instance(obj, saved)
        except InvalidInput as exc:
            raise forms.ValidationError(str(exc)) from None

    @admin.action(description="Enable selected providers")
    def enable_providers(self, request, queryset):
        for provider in queryset:
            identity_api.enable_identity_provider(provider)
        self.message_user(request, f"{len(queryset)} provider(s) enabled.")

    @admin.action(description="Disable selected providers (existing links keep working)")
    def disable_providers(self, request, queryset):
        for provider in queryset:
            identity_api.disable_identity_provider(provider)
        self.message_user(request, f"{len(queryset)} provider(s) disabled.")


# --- SSO links ----------------------------------------------------------------------------------


class SsoLinkForm(forms.ModelForm):
    """Link a user to an external user key at a provider; conflicts are shown on the form."""

    class Meta:
        model = SsoLink
        fields = ["provider", "user", "external_user_key"]

    def clean(self):
        cleaned = super().clean()
        provider, user, key = cleaned.get("provider"), cleaned.get("user"), cleaned.get("external_user_key")
        if provider is None or user is None or not key:
            return cleaned
        try:
            if identity_api.check_sso_link(provider, key, user) is not None:
                self.add_error(None, "This link already exists.")
        except InvalidInput as exc:
            add_api_errors(self, exc)
        except (Conflict, NotFound) as exc:
            self.add_error(None, str(exc))
        return cleaned


@admin.register(SsoLink)
class SsoLinkAdmin(SimpleHistoryAdmin):
    """SSO links are made and removed, never edited."""

    form = SsoLinkForm
    list_display = ["external_user_key", "provider", "user", "created"]
    list_filter = ["provider"]
    search_fields = ["external_user_key_normalized", "user__username", "user__email"]
    list_select_related = ["provider", "user"]
    autocomplete_fields = ["user"]
    ordering = ["-created"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["provider", "user", "external_user_key", "created", "modified"]

    def get_search_results(self, request, queryset, search_term):
        # external keys are searched through their casefolded column
        return super().get_search_results(request, queryset, search_term.casefold())

    def save_model(self, request, obj, form, change):
        if change:
            return  # links are immutable: unlink and link again instead
        data = form.cleaned_data
        try:
            saved = identity_api.link_sso(data["provider"], data["external_user_key"], data["user"])
        except (InvalidInput, Conflict) as exc:
            raise forms.ValidationError(str(exc)) from None
        adopt_saved_instance(obj, saved)

    def delete_model(self, request, obj):
        identity_api.unlink_sso(obj.provider, user=obj.user)

    def delete_queryset(self, request, queryset):
        for link in queryset.select_related("provider", "user"):
            self.delete_model(request, link)


# --- API clients --------------------------------------------------------------------------------


class ApiClientCreationForm(forms.ModelForm):
    """A new API client: a name, an optional client id and its roles, one ``role [kind:key]`` per line."""

    client_name = forms.CharField(label="Name", max_length=255)
    requested_client_id = forms.CharField(
        label="Client id", required=False, max_length=100, help_text="Leave empty to generate one."
    )
    roles = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One per line: a role and, except for operator and learner, its scope, "
        "e.g. 'program_admin org:MITx' or 'enterprise_admin customer:<uuid>'.",
    )

    class Meta:
        model = ApiClient
        fields: list[str] = []

    def clean(self):
        cleaned = super().clean()
        pairs = []
        for line in (cleaned.get("roles") or "").splitlines():
            words = line.split()
            if len(words) > 2:
                self.add_error("roles", f"{line.strip()!r}: write a role and at most one scope.")
            elif words:
                pairs.append((words[0], words[1] if len(words) == 2 else None))
        cleaned["role_pairs"] = pairs
        if self.errors:
            return cleaned
        try:
            identity_api.validate_api_client(
                cleaned.get("client_name", ""), roles=pairs, client_id=cleaned.get("requested_client_id") or None
            )
        except InvalidInput as exc:
            field_names = {"name": "client_name", "client_id": "requested_client_id", "roles": "roles"}
            add_api_errors(self, InvalidInput({field_names.get(k, k): v for k, v in exc.errors.items()}))
        return cleaned


@admin.register(ApiClient)
class ApiClientAdmin(SimpleHistoryAdmin):
    """OAuth2 clients. The secret is never shown: rotating one shows the new secret once."""

    list_display = ["name", "client_id", "is_active", "roles", "created"]
    list_filter = ["is_active"]
    search_fields = ["name", "client_id"]
    list_select_related = ["user"]
    ordering = ["name"]
    actions = ["rotate_secrets", "deactivate_clients", "activate_clients"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiClientCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["client_name", "requested_client_id", "roles"]
        return ["name", "client_id", "user", "is_active", "roles", "created", "modified"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["client_id", "user", "is_active", "roles", "created", "modified"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("user__role_assignments")

    @admin.display(description="Roles")
    def roles(self, obj: ApiClient) -> str:
        held = sorted(obj.user.role_assignments.all(), key=lambda a: (a.role, a.scope_kind, a.scope_key))
        return ", ".join(f"{a.role}@{a.scope_kind}:{a.scope_key}" for a in held) or "-"

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deactivate instead: the service user and its history stay

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if change:
                identity_api.rename_api_client(obj.client_id, data["name"])
                return
            saved, secret = identity_api.create_api_client(
                data["client_name"], roles=data["role_pairs"], client_id=data.get("requested_client_id") or None
            )
        except InvalidInput as exc:
            raise forms.ValidationError(str(exc)) from None
        adopt_saved_instance(obj, saved)
        self._show_secret(request, saved, secret)

    def _show_secret(self, request, client: ApiClient, secret: str) -> None:
        self.message_user(
            request,
            f"Secret of {client.client_id}: {secret} — copy it now, it will not be shown again.",
            messages.WARNING,
        )

    @admin.action(description="Rotate secrets (shows each new secret once)")
    def rotate_secrets(self, request, queryset):
        for client in queryset:
            self._show_secret(request, client, identity_api.rotate_client_secret(client))

    @admin.action(description="Deactivate selected clients (their tokens stop working)")
    def deactivate_clients(self, request, queryset):
        for client in queryset:
            identity_api.deactivate_api_client(client)
        self.message_user(request, f"{len(queryset)} client(s) deactivated.")

    @admin.action(description="Activate selected clients")
    def activate_clients(self, request, queryset):
        for client in queryset:
            identity_api.activate_api_client(client)
        self.message_user(request, f"{len(queryset)} client(s) activated.")
