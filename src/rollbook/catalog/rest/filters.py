"""Query filters of the catalog REST API (django-filter). Invalid values are 400s with field errors."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import Pacing
from rollbook.catalog.models import CatalogCourse, CourseRun, Organization
from rollbook.core.errors import InvalidInput
from rollbook.core.normalise import normalise_key

PACING_CHOICES = [(pacing.value, pacing.value) for pacing in Pacing]
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


class StrictBooleanField(forms.Field):
    """true/false (also 1/0, yes/no, on/off); anything else is an error rather than "no filter"."""

    def to_python(self, value: object) -> bool | None:
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise forms.ValidationError(f"{value!r} is not true or false.")


class BooleanFilter(django_filters.BooleanFilter):
    """A boolean query parameter that answers 400 to values other than true/false."""

    field_class = StrictBooleanField


class OrganizationFilter(django_filters.FilterSet):
    active = BooleanFilter(help_text="Only active (true) or inactive (false) organizations.")
    search = django_filters.CharFilter(method="filter_search", help_text="Text in the short name or name.")

    class Meta:
        model = Organization
        fields = ["active", "search"]

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(short_name__icontains=value) | Q(name__icontains=value))


class CatalogCourseFilter(django_filters.FilterSet):
    org = django_filters.CharFilter(method="filter_org", help_text="Organization short name (any case).")
    language = django_filters.CharFilter(help_text="Exact language code, e.g. en or es-419.")
    search = django_filters.CharFilter(field_name="title", lookup_expr="icontains", help_text="Text in the title.")

    class Meta:
        model = CatalogCourse
        fields = ["org", "language", "search"]

    def filter_org(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(org__short_name_normalized=normalise_key(value))


class CourseRunFilter(django_filters.FilterSet):
    org = django_filters.CharFilter(method="filter_org", help_text="Organization short name (any case).")
    catalog_course = django_filters.CharFilter(
        method="filter_catalog_course", help_text="Catalog course key, catalog-course:ORG:CODE."
    )
    language = django_filters.CharFilter(
        field_name="catalog_course__language", help_text="Exact language code of the catalog course."
    )
    master_course_key = django_filters.CharFilter(
        method="filter_master_course_key", help_text="The CCX runs of the run with this key (exact case)."
    )
    pacing = django_filters.ChoiceFilter(choices=PACING_CHOICES)
    marketable = BooleanFilter()
    active = BooleanFilter(
        method="filter_active", help_text="true: runs that have not ended (no end, or an end in the future)."
    )
    enrollable = BooleanFilter(
        method="filter_enrollable", help_text="true: runs open for enrollment now; false: runs that are not."
    )
    start_after = django_filters.IsoDateTimeFilter(field_name="start", lookup_expr="gte", help_text="start >= this.")
    start_before = django_filters.IsoDateTimeFilter(field_name="start", lookup_expr="lt", help_text="start < this.")
    end_after = django_filters.IsoDateTimeFilter(field_name="end", lookup_expr="gte", help_text="end >= this.")
    end_before = django_filters.IsoDateTimeFilter(field_name="end", lookup_expr="lt", help_text="end < this.")
    search = django_filters.CharFilter(field_name="title", lookup_expr="icontains", help_text="Text in the title.")

    class Meta:
        model = CourseRun
        fields = [
            "org",
            "catalog_course",
            "language",
            "master_course_key",
            "pacing",
            "marketable",
            "active",
            "enrollable",
            "start_after",
            "start_before",
            "end_after",
            "end_before",
            "search",
        ]

    def filter_org(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(catalog_course__org__short_name_normalized=normalise_key(value))

    def filter_catalog_course(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        try:
            cc = catalog_api.get_catalog_course(key_str=value)
        except CatalogCourse.DoesNotExist:
            return queryset.none()
        except InvalidInput as exc:
            raise InvalidInput({"catalog_course": exc.errors.get("key_str", [str(exc)])}) from None
        return queryset.filter(catalog_course=cc)

    def filter_master_course_key(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(catalog_api.ccx_of_q(value))

    def filter_active(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        if value is None:
            return queryset
        not_ended = Q(end__isnull=True) | Q(end__gt=timezone.now())
        return queryset.filter(not_ended) if value else queryset.exclude(not_ended)

    def filter_enrollable(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        if value is None:
            return queryset
        open_now = catalog_api.enrollable_q()
        return queryset.filter(open_now) if value else queryset.exclude(open_now)
