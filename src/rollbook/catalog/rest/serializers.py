"""Serializers of the catalog REST API: read shapes, and write shapes that only check types and choices.

Rules (key consistency, case-only duplicates, language codes, schedules) live in ``catalog.api``;
its InvalidInput errors come back as 400 field errors through the shared exception handler.
"""

from __future__ import annotations

from datetime import datetime

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSlug, Pacing
from rollbook.catalog.models import CatalogCourse, CourseMode, CourseRun, Organization

MODE_SLUG_CHOICES = [mode.value for mode in ModeSlug]
PACING_CHOICES = [pacing.value for pacing in Pacing]


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["uuid", "short_name", "name", "description", "active", "created", "modified"]
        read_only_fields = fields


class OrganizationCreateSerializer(serializers.Serializer):
    short_name = serializers.CharField(
        max_length=255, help_text="Letters, digits, '.', '_' and '-'; unique ignoring case."
    )
    name = serializers.CharField(max_length=255, required=False, help_text="Defaults to the short name.")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    active = serializers.BooleanField(required=False, default=True)


class OrganizationUpdateSerializer(serializers.Serializer):
    short_name = serializers.CharField(
        max_length=255, required=False, help_text="Only its capitalization may change while the organization has runs."
    )
    name = serializers.CharField(max_length=255, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)


class CourseModeSerializer(serializers.ModelSerializer):
    class Meta:
        model = CourseMode
        fields = ["slug", "name", "price_cents", "currency", "upgrade_deadline", "sku"]
        read_only_fields = fields


class CourseModeWriteSerializer(serializers.Serializer):
    """A mode to offer on a run (its slug comes from the URL when setting one mode)."""

    price_cents = serializers.IntegerField(min_value=0, help_text="Price in integer cents.")
    currency = serializers.CharField(max_length=3, required=False, default="usd")
    upgrade_deadline = serializers.DateTimeField(required=False, allow_null=True, default=None)
    name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class CourseModeItemSerializer(CourseModeWriteSerializer):
    """A mode to offer on a new run."""

    slug = serializers.ChoiceField(choices=MODE_SLUG_CHOICES)


class AdvertisedRunSerializer(serializers.ModelSerializer):
    course_key = serializers.CharField(read_only=True)

    class Meta:
        model = CourseRun
        fields = ["uuid", "course_key", "title", "start", "end", "enrollment_start", "enrollment_end", "pacing"]
        read_only_fields = fields


class CourseRunSerializer(serializers.ModelSerializer):
    """A run with its modes and what a buyer needs: price, best mode, enrollability, enroll-by date."""

    course_key = serializers.CharField(read_only=True)
    catalog_course = serializers.CharField(source="catalog_course.key_str", read_only=True)
    org = serializers.CharField(source="catalog_course.org.short_name", read_only=True)
    course_code = serializers.CharField(source="catalog_course.course_code", read_only=True)
    language = serializers.CharField(source="catalog_course.language", read_only=True)
    master_course_key = serializers.SerializerMethodField()
    modes = CourseModeSerializer(many=True, read_only=True)
    best_mode = serializers.SerializerMethodField()
    price_cents = serializers.SerializerMethodField()
    currency = serializers.SerializerMethodField()
    is_enrollable = serializers.SerializerMethodField()
    enroll_by_date = serializers.SerializerMethodField()

    class Meta:
        model = CourseRun
        fields = [
            "uuid",
            "course_key",
            "catalog_course",
            "org",
            "course_code",
            "run_code",
            "master_course_key",
            "title",
            "language",
            "start",
            "end",
            "enrollment_start",
            "enrollment_end",
            "pacing",
            "marketable",
            "modes",
            "best_mode",
            "price_cents",
            "currency",
            "is_enrollable",
            "enroll_by_date",
            "created",
            "modified",
        ]
        read_only_fields = fields

    def _now(self) -> datetime | None:
        return self.context.get("now")

    @extend_schema_field({"type": "string", "nullable": True, "example": "course-v1:edX+DemoX+2027"})
    def get_master_course_key(self, run: CourseRun) -> str | None:
        """For a CCX run, the key of the run it customises; null for other runs."""
        master = catalog_api.master_course_key(run.course_key)
        return str(master) if master is not None else None

    @extend_schema_field(OpenApiTypes.STR)
    def get_best_mode(self, run: CourseRun) -> str:
        return catalog_api.best_mode(run)

    @extend_schema_field(OpenApiTypes.INT)
    def get_price_cents(self, run: CourseRun) -> int:
        return catalog_api.run_price(run)[0]

    @extend_schema_field(OpenApiTypes.STR)
    def get_currency(self, run: CourseRun) -> str:
        return catalog_api.run_price(run)[1]

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_is_enrollable(self, run: CourseRun) -> bool:
        return catalog_api.is_enrollable(run, self._now())

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_enroll_by_date(self, run: CourseRun) -> str | None:
        moment = catalog_api.enroll_by_date(run)
        return serializers.DateTimeField().to_representation(moment) if moment else None


class CourseRunCreateSerializer(serializers.Serializer):
    course_key = serializers.CharField(
        max_length=255,
        help_text="course-v1:ORG+CODE+RUN, or a CCX of an existing run: ccx-v1:ORG+CODE+RUN+ccx@N.",
    )
    title = serializers.CharField(max_length=255, required=False, help_text="Defaults to the catalog course's title.")
    language = serializers.CharField(
        max_length=64, required=False, help_text="Used only when the catalog course is created with the run."
    )
    start = serializers.DateTimeField(required=False, allow_null=True, default=None)
    end = serializers.DateTimeField(required=False, allow_null=True, default=None)
    enrollment_start = serializers.DateTimeField(required=False, allow_null=True, default=None)
    enrollment_end = serializers.DateTimeField(required=False, allow_null=True, default=None)
    pacing = serializers.ChoiceField(choices=PACING_CHOICES, required=False, default=Pacing.INSTRUCTOR.value)
    marketable = serializers.BooleanField(required=False, default=True)
    modes = CourseModeItemSerializer(many=True, required=False, default=list)


class CourseRunUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=255, required=False)
    start = serializers.DateTimeField(required=False, allow_null=True)
    end = serializers.DateTimeField(required=False, allow_null=True)
    enrollment_start = serializers.DateTimeField(required=False, allow_null=True)
    enrollment_end = serializers.DateTimeField(required=False, allow_null=True)
    pacing = serializers.ChoiceField(choices=PACING_CHOICES, required=False)
    marketable = serializers.BooleanField(required=False)


class CatalogCourseSerializer(serializers.ModelSerializer):
    """A catalog course, its key ``catalog-course:ORG:CODE`` and the run it advertises now."""

    key = serializers.CharField(source="key_str", read_only=True)
    org = serializers.CharField(source="org.short_name", read_only=True)
    language_short = serializers.SerializerMethodField()
    advertised_run = serializers.SerializerMethodField()

    class Meta:
        model = CatalogCourse
        fields = [
            "uuid",
            "key",
            "org",
            "course_code",
            "title",
            "language",
            "language_short",
            "description",
            "advertised_run",
            "created",
            "modified",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_language_short(self, cc: CatalogCourse) -> str:
        return catalog_api.language_short(cc.language)

    @extend_schema_field(AdvertisedRunSerializer(allow_null=True))
    def get_advertised_run(self, cc: CatalogCourse) -> dict | None:
        advertised = self.context.get("advertised_runs")
        run = (
            advertised.get(cc.pk) if advertised is not None else catalog_api.advertised_run(cc, self.context.get("now"))
        )
        return AdvertisedRunSerializer(run).data if run else None


class CatalogCourseCreateSerializer(serializers.Serializer):
    org = serializers.CharField(max_length=255, help_text="Organization short name (created if allowed).")
    course_code = serializers.CharField(max_length=255)
    title = serializers.CharField(max_length=255, required=False, help_text="Defaults to the course code.")
    language = serializers.CharField(max_length=64, required=False, help_text="e.g. en, es-419, zh-cn.")
    description = serializers.CharField(required=False, allow_blank=True, default="")


class CatalogCourseUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=255, required=False)
    language = serializers.CharField(max_length=64, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
