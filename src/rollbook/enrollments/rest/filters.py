"""Query filters of the enrollment list."""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSlug
from rollbook.enrollments.models import CourseEnrollment


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """``true`` or ``false``; anything else is a 400 (django-filter's BooleanFilter silently ignores it)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        kwargs.setdefault("coerce", lambda value: value == "true")
        super().__init__(*args, **kwargs)


class EnrollmentFilter(django_filters.FilterSet):
    """Filters for ``GET /api/enrollments/v1/enrollments/``; a malformed value is a 400 naming the parameter."""

    course_key = django_filters.CharFilter(method="filter_course_key", help_text="Exact course run key.")
    username = django_filters.CharFilter(field_name="user__username", help_text="Exact username.")
    mode = django_filters.ChoiceFilter(choices=[(mode.value, mode.value) for mode in ModeSlug])
    is_active = StrictBooleanFilter(help_text="true: enrolled; false: unenrolled.")
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created", lookup_expr="gte", help_text="Created at or after this ISO 8601 time."
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created", lookup_expr="lt", help_text="Created before this ISO 8601 time."
    )

    class Meta:
        model = CourseEnrollment
        fields = ["course_key", "username", "mode", "is_active", "created_after", "created_before"]

    def filter_course_key(self, queryset, name, value):
        return queryset.filter(course_run__course_key=catalog_api.parse_course_key(value))
