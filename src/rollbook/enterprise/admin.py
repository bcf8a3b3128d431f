"""Django admin for the enterprise app: customers, learners, consent, catalogs, plans and licenses, enterprise
enrollments and default-enrollment intentions, each with its row history.

Business objects are written through ``enterprise.api`` (saves and actions alike), so the admin follows the
same rules as the REST API; an ``InvalidInput``/``Conflict``/``NotFound`` from it becomes an error message and
nothing is saved. Rows only the api writes (licenses, enterprise enrollments, realizations) are read-only here
and changed by actions. Enterprise enrollments are never deleted, and intentions are soft-deleted (the list
shows removed ones too, with a filter).
"""

from __future__ import annotations

from collections import Counter

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from rollbook.core.admin import adopt_saved_instance
from rollbook.core.errors import Conflict, InvalidInput, NotFound
from rollbook.core.normalise import normalise_key
from rollbook.enterprise import api
from rollbook.enterprise.data import SEAT_HOLDING_STATUSES
from rollbook.enterprise.models import (
    DataSharingConsent,
    DefaultEnrollmentIntention,
    DefaultEnrollmentRealization,
    EnterpriseCatalog,
    EnterpriseCatalogCourse,
    EnterpriseCatalogOrganization,
    EnterpriseCourseEnrollment,
    EnterpriseCustomer,
    EnterpriseCustomerIdentityProvider,
    EnterpriseCustomerUser,
    License,
    PendingEnrollment,
    SubscriptionPlan,
)

API_ERRORS = (InvalidInput, Conflict, NotFound)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, InvalidInput):
        return "; ".join(
            " ".join(texts) if field == "non_field_errors" else f"{field}: {' '.join(texts)}"
            for field, texts in exc.errors.items()
        )
    return str(exc)


class _ApiAdmin(SimpleHistoryAdmin):
    """Saves and deletes call ``enterprise.api``; its errors roll the change back and show as a message."""

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        try:
            with transaction.atomic():
                return super().changeform_view(request, object_id, form_url, extra_context)
        except API_ERRORS as exc:
            self.message_user(request, f"Not saved: {_error_text(exc)}", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request: HttpRequest, object_id, extra_context=None):
        try:
            with transaction.atomic():
                return super().delete_view(request, object_id, extra_context)
        except API_ERRORS as exc:
            self.message_user(request, f"Not deleted: {_error_text(exc)}", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())


class _ViewOnlyAdmin(SimpleHistoryAdmin):
    """Rows only ``enterprise.api`` writes: listed and viewed with their history, changed by actions."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _each(modeladmin: admin.ModelAdmin, request: HttpRequest, objects, call, verb: str) -> int:
    """Run ``call(obj)`` for each object in its own transaction; report refusals one by one; return successes."""
    done = 0
    for obj in objects:
        try:
            with transaction.atomic():
                call(obj)
        except API_ERRORS as exc:
            modeladmin.message_user(request, f"{obj}: not {verb}: {_error_text(exc)}", messages.ERROR)
        else:
            done += 1
    return done


# --- customers -----------------------------------------------------------------------------------


class IdentityProviderLinkInline(admin.TabularInline):
    """The identity providers the customer's learners sign in with; a provider serves one customer."""

    model = EnterpriseCustomerIdentityProvider
    fields = ["identity_provider", "created"]
    readonly_fields = ["created"]
    autocomplete_fields = ["identity_provider"]
    extra = 0


CUSTOMER_FIELDS = [
    "name",
    "slug",
    "active",
    "enable_data_sharing_consent",
    "enforce_data_sharing_consent",
    "enable_audit_enrollment",
    "enable_audit_data_reporting",
]


@admin.register(EnterpriseCustomer)
class EnterpriseCustomerAdmin(_ApiAdmin):
    list_display = ["name", "slug", "uuid", "active", "enable_data_sharing_consent", "learners", "created"]
    list_filter = ["active", "enable_data_sharing_consent", "enforce_data_sharing_consent", "enable_audit_enrollment"]
    search_fields = ["name", "slug", "=uuid"]
    readonly_fields = ["uuid", "created", "modified"]
    fields = [*CUSTOMER_FIELDS, "uuid", "created", "modified"]
    inlines = [IdentityProviderLinkInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[EnterpriseCustomer]:
        return (
            super()
            .get_queryset(request)
            .annotate(linked_learners=Count("customer_users", filter=Q(customer_users__linked=True)))
        )

    @admin.display(description="linked learners", ordering="linked_learners")
    def learners(self, customer: EnterpriseCustomer) -> int:
        return customer.linked_learners

    def save_model(self, request: HttpRequest, obj: EnterpriseCustomer, form, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in CUSTOMER_FIELDS if name in form.cleaned_data}
        if change:
            changed = {name: value for name, value in data.items() if name in form.changed_data}
            saved = api.update_customer(obj.uuid, **changed) if changed else obj
        else:
            saved = api.create_customer(**data)
        adopt_saved_instance(obj, saved)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # deactivate instead: learners, enrollments and reports refer to the customer


# --- learners (customer users) ------------------------------------------------------------------


class CustomerUserAddForm(forms.ModelForm):
    """Link an account, or an email (a pending learner when no account has it yet)."""

    email = forms.CharField(
        required=False, max_length=254, help_text="Instead of a user: an email, linked or recorded as pending."
    )
    make_active = forms.BooleanField(
        required=False, initial=True, help_text="Make this customer the user's active one (deactivating others)."
    )

    class Meta:
        model = EnterpriseCustomerUser
        fields = ["customer", "user"]

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("user")) == bool((cleaned.get("email") or "").strip()):
            raise forms.ValidationError("Give either a user or an email.")
        return cleaned


@admin.register(EnterpriseCustomerUser)
class EnterpriseCustomerUserAdmin(_ApiAdmin):
    list_display = ["__str__", "customer", "user", "user_email", "pending", "active", "linked", "created"]
    list_filter = ["active", "linked", ("user", admin.EmptyFieldListFilter), "customer"]
    search_fields = ["user__username", "user__email", "user_email_normalized", "customer__slug", "customer__name"]
    list_select_related = ["customer", "user"]
    autocomplete_fields = ["customer", "user"]
    readonly_fields = ["customer", "user", "user_email", "user_email_normalized", "active", "linked", "created"]
    actions = ["make_active", "unlink"]
    show_full_result_count = False

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        if obj is None:
            kwargs["form"] = CustomerUserAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return ["customer", "user", "email", "make_active"]
        return [*self.readonly_fields, "modified"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [*self.readonly_fields, "modified"] if obj is not None else []

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        return super().get_search_results(request, queryset, search_term.strip().casefold())

    @admin.display(boolean=True, description="pending")
    def pending(self, learner: EnterpriseCustomerUser) -> bool:
        return learner.is_pending

    def save_model(self, request: HttpRequest, obj: EnterpriseCustomerUser, form, change: bool) -> None:
        if change:
            return  # learners change through the actions
        data = form.cleaned_data
        customer = data["customer"]
        if data.get("user"):
            saved = api.link_user(customer, data["user"], activate=data.get("make_active", False))
        else:
            result = api.link_learners(customer, [data["email"]])[0]
            if result.status == api.LinkStatus.INVALID_EMAIL:
                raise InvalidInput({"email": [f"{data['email']!r} is not a valid email address."]})
            if result.user_id is not None:
                saved = api.customer_user_for(customer, result.user_id)
            else:
                saved = api.learners_queryset(customer).get(
                    user__isnull=True, user_email_normalized=normalise_key(data["email"])
                )
        adopt_saved_instance(obj, saved)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # unlink instead: the row and its enrollments are kept

    @admin.action(description="Make the customer the active one of the selected learners")
    def make_active(self, request: HttpRequest, queryset: QuerySet[EnterpriseCustomerUser]) -> None:
        linked = queryset.filter(user__isnull=False, linked=True).select_related("customer", "user")
        done = _each(self, request, linked, lambda row: api.activate_customer(row.customer, row.user), "activated")
        self.message_user(request, f"{done} learner(s) made active in their customer.", messages.SUCCESS)

    @admin.action(description="Unlink the selected learners (pending ones are removed)")
    def unlink(self, request: HttpRequest, queryset: QuerySet[EnterpriseCustomerUser]) -> None:
        emails_by_customer: dict[EnterpriseCustomer, list[str]] = {}
        for row in queryset.select_related("customer", "user"):
            email = row.user.email if row.user_id else row.user_email
            emails_by_customer.setdefault(row.customer, []).append(email)
        outcome: Counter[str] = Counter()
        for customer, emails in emails_by_customer.items():
            outcome.update(result.status for result in api.unlink_learners(customer, emails))
        summary = ", ".join(f"{status} {count}" for status, count in sorted(outcome.items())) or "nothing to do"
        self.message_user(request, f"Unlink: {summary}.", messages.SUCCESS)


# --- consent -------------------------------------------------------------------------------------


class ConsentForm(forms.ModelForm):
    granted = forms.TypedChoiceField(
        choices=[("true", "Granted"), ("false", "Refused")], coerce=lambda value: value == "true"
    )

    class Meta:
        model = DataSharingConsent
        fields = ["customer", "user", "catalog_course"]


@admin.register(DataSharingConsent)
class DataSharingConsentAdmin(_ApiAdmin):
    """Consent is recorded as granted or refused (a missing row means not granted); never deleted."""

    list_display = ["user", "catalog_course", "customer", "granted", "modified"]
    list_filter = ["granted", "customer"]
    search_fields = ["user__username", "user__email", "catalog_course__course_code", "catalog_course__org__short_name"]
    list_select_related = ["user", "customer", "catalog_course__org"]
    autocomplete_fields = ["customer", "user", "catalog_course"]
    actions = ["grant", "refuse"]
    show_full_result_count = False

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        if obj is None:
            kwargs["form"] = ConsentForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return ["customer", "user", "catalog_course", "granted"]
        return ["customer", "user", "catalog_course", "granted", "created", "modified"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [] if obj is None else ["customer", "user", "catalog_course", "granted", "created", "modified"]

    def save_model(self, request: HttpRequest, obj: DataSharingConsent, form, change: bool) -> None:
        if change:
            return  # use the actions
        data = form.cleaned_data
        record = api.grant_consent if data["granted"] else api.revoke_consent
        record(data["customer"], data["user"], data["catalog_course"].key_str)
        saved = DataSharingConsent.objects.get(
            customer=data["customer"], user=data["user"], catalog_course=data["catalog_course"]
        )
        adopt_saved_instance(obj, saved)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def _record(self, request: HttpRequest, queryset, grant: bool) -> None:
        record = api.grant_consent if grant else api.revoke_consent
        rows = queryset.select_related("customer", "user", "catalog_course__org")
        done = _each(
            self, request, rows, lambda row: record(row.customer, row.user, row.catalog_course.key_str), "recorded"
        )
        self.message_user(request, f"{done} consent record(s) {'granted' if grant else 'refused'}.", messages.SUCCESS)

    @admin.action(description="Record consent as granted")
    def grant(self, request: HttpRequest, queryset) -> None:
        self._record(request, queryset, grant=True)

    @admin.action(description="Record consent as refused")
    def refuse(self, request: HttpRequest, queryset) -> None:
        self._record(request, queryset, grant=False)


# --- catalogs ------------------------------------------------------------------------------------


class CatalogCourseInline(admin.TabularInline):
    model = EnterpriseCatalogCourse
    autocomplete_fields = ["catalog_course"]
    extra = 0
    verbose_name = "course named explicitly"


class CatalogOrganizationInline(admin.TabularInline):
    model = EnterpriseCatalogOrganization
    autocomplete_fields = ["organization"]
    extra = 0
    verbose_name = "organization (all its courses)"


@admin.register(EnterpriseCatalog)
class EnterpriseCatalogAdmin(_ApiAdmin):
    list_display = ["title", "customer", "uuid", "courses_named", "organizations_named", "created"]
    list_filter = ["customer"]
    search_fields = ["title", "customer__name", "customer__slug", "=uuid"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    readonly_fields = ["uuid", "created", "modified"]
    inlines = [CatalogOrganizationInline, CatalogCourseInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[EnterpriseCatalog]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                course_count=Count("course_entries", distinct=True),
                organization_count=Count("organization_entries", distinct=True),
            )
        )

    def get_fields(self, request: HttpRequest, obj=None):
        return ["customer", "title"] if obj is None else ["customer", "title", "uuid", "created", "modified"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.readonly_fields if obj is None else [*self.readonly_fields, "customer"]

    @admin.display(description="courses", ordering="course_count")
    def courses_named(self, catalog: EnterpriseCatalog) -> int:
        return catalog.course_count

    @admin.display(description="organizations", ordering="organization_count")
    def organizations_named(self, catalog: EnterpriseCatalog) -> int:
        return catalog.organization_count

    def save_model(self, request: HttpRequest, obj: EnterpriseCatalog, form, change: bool) -> None:
        if change:
            saved = api.update_catalog(obj.uuid, title=form.cleaned_data["title"])
        else:
            saved = api.create_catalog(form.cleaned_data["customer"], title=form.cleaned_data["title"])
        adopt_saved_instance(obj, saved)

    def delete_model(self, request: HttpRequest, obj: EnterpriseCatalog) -> None:
        api.delete_catalog(obj.uuid)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for catalog in queryset:
            self.delete_model(request, catalog)


# --- plans and licenses --------------------------------------------------------------------------


PLAN_CHANGEABLE = ["title", "seats", "start", "expiration", "active"]


@admin.register(SubscriptionPlan)
class SubscriptionPlanAdmin(_ApiAdmin):
    """Plans are created with their seats as unassigned licenses (``api.create_plan``); seat changes add or
    remove free licenses (``api.update_plan``)."""

    list_display = ["title", "customer", "catalog", "seats", "assigned", "activated", "free", "start", "expiration"]
    list_filter = ["active", "customer"]
    search_fields = ["title", "customer__name", "customer__slug", "=uuid"]
    list_select_related = ["customer", "catalog"]
    autocomplete_fields = ["customer", "catalog"]
    date_hierarchy = "start"

    def get_queryset(self, request: HttpRequest) -> QuerySet[SubscriptionPlan]:
        return api.plans_queryset()  # annotated with the seat counts

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return ["customer", "catalog", "title", "seats", "start", "expiration"]
        return ["uuid", "customer", "catalog", *PLAN_CHANGEABLE, "seats_summary", "created", "modified"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [] if obj is None else ["uuid", "customer", "catalog", "seats_summary", "created", "modified"]

    @admin.display(description="assigned", ordering="seats_assigned")
    def assigned(self, plan: SubscriptionPlan) -> int:
        return plan.seats_assigned

    @admin.display(description="activated", ordering="seats_activated")
    def activated(self, plan: SubscriptionPlan) -> int:
        return plan.seats_activated

    @admin.display(description="free", ordering="seats_free")
    def free(self, plan: SubscriptionPlan) -> int:
        return plan.seats_free

    @admin.display(description="seats")
    def seats_summary(self, plan: SubscriptionPlan) -> str:
        counts = api.get_plan(plan.uuid)
        licenses = reverse("admin:enterprise_license_changelist") + f"?plan__id__exact={plan.pk}"
        return format_html(
            '{} seats: {} assigned, {} activated, {} free. <a href="{}">Licenses</a>',
            plan.seats,
            counts.seats_assigned,
            counts.seats_activated,
            counts.seats_free,
            licenses,
        )

    def save_model(self, request: HttpRequest, obj: SubscriptionPlan, form, change: bool) -> None:
        data = form.cleaned_data
        if change:
            changes = {name: data[name] for name in PLAN_CHANGEABLE if name in form.changed_data}
            saved = api.update_plan(obj.uuid, **changes) if changes else obj
        else:
            saved = api.create_plan(
                data["customer"],
                catalog=data["catalog"],
                title=data["title"],
                seats=data["seats"],
                start=data["start"],
                expiration=data["expiration"],
            )
        adopt_saved_instance(obj, saved)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # deactivate instead: licenses and enrollments refer to it


@admin.register(License)
class LicenseAdmin(_ViewOnlyAdmin):
    """Licenses are assigned and activated through the API; here they are inspected and revoked."""

    list_display = ["uuid", "plan", "status", "user", "user_email", "assigned_at", "activated_at", "revoked_at"]
    list_filter = ["status", "plan__customer", "plan"]
    search_fields = ["=uuid", "user_email_normalized", "user__username", "user__email"]
    list_select_related = ["plan", "user"]
    actions = ["revoke"]
    show_full_result_count = False

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        return super().get_search_results(request, queryset, search_term.strip().casefold())

    @admin.action(description="Revoke the selected licenses (enrollments move to audit or are unenrolled)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[License]) -> None:
        effects: Counter[str] = Counter()

        def revoke_one(license: License) -> None:
            effects.update(effect.action for effect in api.revoke_license(license.uuid))

        revocable = queryset.filter(status__in=[status.value for status in SEAT_HOLDING_STATUSES])
        done = _each(self, request, revocable, revoke_one, "revoked")
        detail = ", ".join(f"{action} {count}" for action, count in sorted(effects.items()))
        self.message_user(
            request, f"{done} license(s) revoked." + (f" Enrollments: {detail}." if detail else ""), messages.SUCCESS
        )


# --- enterprise enrollments ----------------------------------------------------------------------


@admin.register(EnterpriseCourseEnrollment)
class EnterpriseCourseEnrollmentAdmin(_ViewOnlyAdmin):
    """Made by enrolling through the API; never deleted (leaving sets ``unenrolled``)."""

    list_display = [
        "customer_user",
        "course_key",
        "mode",
        "source",
        "license",
        "unenrolled",
        "unenrolled_at",
        "created",
    ]
    list_filter = ["source", "unenrolled", "saved_for_later", "customer_user__customer"]
    search_fields = [
        "customer_user__user__username",
        "customer_user__user__email",
        "course_enrollment__course_run__course_key",
    ]
    list_select_related = ["customer_user__user", "course_enrollment__course_run", "license"]
    show_full_result_count = False

    @admin.display(description="course key", ordering="course_enrollment__course_run__course_key")
    def course_key(self, enrollment: EnterpriseCourseEnrollment) -> str:
        return str(enrollment.course_enrollment.course_run.course_key)

    @admin.display(description="mode")
    def mode(self, enrollment: EnterpriseCourseEnrollment) -> str:
        return enrollment.course_enrollment.mode


@admin.register(PendingEnrollment)
class PendingEnrollmentAdmin(admin.ModelAdmin):
    """Enrollments waiting for an email to register; deleting one cancels it."""

    list_display = ["customer_user", "course_run", "license", "source", "is_default_auto_enrollment", "created"]
    list_filter = ["source", "is_default_auto_enrollment", "customer_user__customer"]
    search_fields = ["customer_user__user_email_normalized", "course_run__course_key"]
    list_select_related = ["customer_user", "course_run", "license"]
    readonly_fields = ["customer_user", "course_run", "license", "source", "is_default_auto_enrollment", "created"]

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # made by enroll_learners_in_courses for emails without an account

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        return super().get_search_results(request, queryset, search_term.strip().casefold())


# --- default enrollments -------------------------------------------------------------------------


class IntentionAddForm(forms.ModelForm):
    """A customer and a content key. ``api.create_intention`` checks the key and refuses duplicates (a
    soft-deleted one included, saying how to restore it), comparing canonical keys, so the key is a plain
    field here rather than the model's column."""

    key = forms.CharField(
        label="Content key",
        max_length=255,
        help_text="A course run key (course-v1:ORG+CODE+RUN) or a course (catalog-course:ORG:CODE or ORG+CODE): "
        "a course enrolls in the run it advertises at the time of enrollment.",
    )

    class Meta:
        model = DefaultEnrollmentIntention
        fields = ["customer"]


class RemovedFilter(admin.SimpleListFilter):
    """Soft-deleted or not; the list shows both by default."""

    title = "removed"
    parameter_name = "is_removed"

    def lookups(self, request, model_admin):
        return [("0", "Applied (not removed)"), ("1", "Removed")]

    def queryset(self, request, queryset):
        if self.value() in ("0", "1"):
            return queryset.filter(is_removed=self.value() == "1")
        return queryset


@admin.register(DefaultEnrollmentIntention)
class DefaultEnrollmentIntentionAdmin(_ApiAdmin):
    """Intentions are created through ``api.create_intention`` and soft-deleted / restored by actions; the list
    shows removed ones too (filter "removed")."""

    list_display = ["content_key", "content_type", "customer", "is_removed", "realizations_made", "created"]
    list_filter = [RemovedFilter, "content_type", "customer"]
    search_fields = ["content_key", "customer__name", "customer__slug", "=uuid"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    actions = ["soft_delete", "restore", "realize", "validate"]
    detail_fields = [
        "uuid",
        "customer",
        "content_key",
        "content_type",
        "catalog_course",
        "course_run",
        "is_removed",
        "created",
        "modified",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[DefaultEnrollmentIntention]:
        return (
            DefaultEnrollmentIntention.objects.all()  # removed rows included
            .annotate(realization_count=Count("realizations"))
            .order_by("customer__name", "created", "id")
        )

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        if obj is None:
            kwargs["form"] = IntentionAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj=None):
        return ["customer", "key"] if obj is None else self.detail_fields

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [] if obj is None else self.detail_fields

    @admin.display(description="realizations", ordering="realization_count")
    def realizations_made(self, intention: DefaultEnrollmentIntention) -> int:
        return intention.realization_count

    def save_model(self, request: HttpRequest, obj: DefaultEnrollmentIntention, form, change: bool) -> None:
        if change:
            return  # intentions are immutable: soft-delete and create another
        saved = api.create_intention(form.cleaned_data["customer"], form.cleaned_data["key"])
        adopt_saved_instance(obj, saved)
        self.message_user(
            request,
            "Existing learners are enrolled when the intention is realized: use the action "
            "“Realize default enrollments for the customers of the selected intentions”.",
            messages.INFO,
        )

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # soft delete instead (action), so it can be restored

    @admin.action(description="Soft delete the selected intentions")
    def soft_delete(self, request: HttpRequest, queryset) -> None:
        done = _each(self, request, queryset, lambda row: api.delete_intention(row.uuid), "deleted")
        self.message_user(request, f"{done} intention(s) soft-deleted.", messages.SUCCESS)

    @admin.action(description="Restore the selected intentions")
    def restore(self, request: HttpRequest, queryset) -> None:
        done = _each(self, request, queryset, lambda row: api.restore_intention(row.uuid), "restored")
        self.message_user(request, f"{done} intention(s) restored.", messages.SUCCESS)

    @admin.action(description="Realize default enrollments for the customers of the selected intentions")
    def realize(self, request: HttpRequest, queryset) -> None:
        customers = EnterpriseCustomer.objects.filter(pk__in=queryset.values("customer_id"))
        for customer in customers:
            try:
                result = api.realize_for_customer(customer)
            except API_ERRORS as exc:
                self.message_user(request, f"{customer}: {_error_text(exc)}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{customer}: {result.learners} learner(s), {result.enrollments_created} enrollment(s) made, "
                f"{result.realizations_created} realization(s) recorded, {result.skipped_without_license} "
                f"skipped without a license, {result.failures} failure(s).",
                messages.SUCCESS,
            )

    @admin.action(description="Check the selected intentions' customers (catalog and enrollability)")
    def validate(self, request: HttpRequest, queryset) -> None:
        chosen = set(queryset.values_list("uuid", flat=True))
        customers = EnterpriseCustomer.objects.filter(pk__in=queryset.values("customer_id"))
        problems = [
            p for customer in customers for p in api.validate_intentions(customer) if p.intention_uuid in chosen
        ]
        for problem in problems[:50]:
            self.message_user(
                request, f"{problem.customer_slug} {problem.content_key}: {problem.problem}", messages.WARNING
            )
        if not problems:
            self.message_user(request, "No problems found.", messages.SUCCESS)


@admin.register(DefaultEnrollmentRealization)
class DefaultEnrollmentRealizationAdmin(_ViewOnlyAdmin):
    list_display = ["intention", "learner", "course_key", "created"]
    list_filter = ["intention__customer"]
    search_fields = [
        "intention__content_key",
        "realized_enrollment__customer_user__user__username",
        "realized_enrollment__course_enrollment__course_run__course_key",
    ]
    list_select_related = [
        "intention",
        "realized_enrollment__customer_user__user",
        "realized_enrollment__course_enrollment__course_run",
    ]
    show_full_result_count = False

    @admin.display(description="learner")
    def learner(self, realization: DefaultEnrollmentRealization) -> str:
        return str(realization.realized_enrollment.customer_user.user or "")

    @admin.display(description="course key")
    def course_key(self, realization: DefaultEnrollmentRealization) -> str:
        return str(realization.realized_enrollment.course_enrollment.course_run.course_key)
