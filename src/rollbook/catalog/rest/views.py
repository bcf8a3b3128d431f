"""Catalog REST views: organizations, catalog courses, course runs and their modes.

Anyone authenticated may read; only operators may write. Views check the request's shape with a
serializer and hand it to ``catalog.api``; list endpoints run a fixed number of queries per page.
"""

from __future__ import annotations

import uuid

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import CATALOG_COURSE_KEY_PREFIX, ModeSlug, ModeSpec
from rollbook.catalog.models import CatalogCourse, CourseMode, CourseRun, Organization
from rollbook.catalog.rest.filters import CatalogCourseFilter, CourseRunFilter, OrganizationFilter
from rollbook.catalog.rest.serializers import (
    CatalogCourseCreateSerializer,
    CatalogCourseSerializer,
    CatalogCourseUpdateSerializer,
    CourseModeSerializer,
    CourseModeWriteSerializer,
    CourseRunCreateSerializer,
    CourseRunSerializer,
    CourseRunUpdateSerializer,
    OrganizationCreateSerializer,
    OrganizationSerializer,
    OrganizationUpdateSerializer,
)
from rollbook.core.errors import InvalidInput
from rollbook.core.permissions import OperatorWritesAuthenticatedReads

CONFLICT = OpenApiResponse(description="The object is still referenced and cannot be deleted.")
BAD_REQUEST = OpenApiResponse(description="Invalid input; the body maps each field to its error messages.")


class _CatalogViewSet(viewsets.GenericViewSet):
    permission_classes = [OperatorWritesAuthenticatedReads]

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "now": timezone.now()}

    def _write(self, serializer_class, request: Request) -> dict:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


ORGANIZATION_LOOKUP = OpenApiParameter(
    "short_name",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The organization's short name (any case) or its UUID.",
)


@extend_schema_view(
    list=extend_schema(summary="List organizations"),
    retrieve=extend_schema(summary="Get an organization", parameters=[ORGANIZATION_LOOKUP]),
)
@extend_schema(tags=["catalog"])
class OrganizationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _CatalogViewSet):
    """Organizations that offer courses."""

    serializer_class = OrganizationSerializer
    filterset_class = OrganizationFilter
    lookup_field = "short_name"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return catalog_api.organizations_queryset()

    def get_object(self) -> Organization:
        try:
            org = catalog_api.get_organization(self.kwargs["short_name"])
        except Organization.DoesNotExist:
            raise NotFound("No such organization.") from None
        self.check_object_permissions(self.request, org)
        return org

    @extend_schema(
        summary="Create an organization",
        request=OrganizationCreateSerializer,
        responses={201: OrganizationSerializer, 400: BAD_REQUEST},
    )
    def create(self, request: Request) -> Response:
        org = catalog_api.create_organization(**self._write(OrganizationCreateSerializer, request))
        return Response(OrganizationSerializer(org).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change an organization",
        parameters=[ORGANIZATION_LOOKUP],
        request=OrganizationUpdateSerializer,
        responses={200: OrganizationSerializer, 400: BAD_REQUEST},
    )
    def partial_update(self, request: Request, short_name: str) -> Response:
        org = self.get_object()
        org = catalog_api.update_organization(org, **self._write(OrganizationUpdateSerializer, request))
        return Response(OrganizationSerializer(org).data)

    @extend_schema(
        summary="Delete an organization without catalog courses",
        parameters=[ORGANIZATION_LOOKUP],
        responses={204: None, 409: CONFLICT},
    )
    def destroy(self, request: Request, short_name: str) -> Response:
        catalog_api.delete_organization(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


COURSE_LOOKUP = OpenApiParameter(
    "key",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The catalog course key catalog-course:ORG:CODE (organization in any case), or its UUID.",
)


@extend_schema_view(
    list=extend_schema(summary="List catalog courses, each with the run it advertises now"),
    retrieve=extend_schema(summary="Get a catalog course", parameters=[COURSE_LOOKUP]),
)
@extend_schema(tags=["catalog"])
class CatalogCourseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _CatalogViewSet):
    """Courses as the catalog offers them (ORG+CODE), with their advertised run."""

    serializer_class = CatalogCourseSerializer
    filterset_class = CatalogCourseFilter
    lookup_field = "key"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return catalog_api.catalog_courses_queryset()

    def get_object(self) -> CatalogCourse:
        value = self.kwargs["key"]
        try:
            if value.startswith(f"{CATALOG_COURSE_KEY_PREFIX}:"):
                cc = catalog_api.get_catalog_course(key_str=value)
            else:
                try:
                    course_uuid = uuid.UUID(value)
                except ValueError:
                    raise InvalidInput(
                        {
                            "key": [
                                f"{value!r} is neither a catalog course key ({CATALOG_COURSE_KEY_PREFIX}:ORG:CODE) "
                                "nor a UUID."
                            ]
                        }
                    ) from None
                cc = catalog_api.get_catalog_course(uuid=course_uuid)
        except CatalogCourse.DoesNotExist:
            raise NotFound("No such catalog course.") from None
        self.check_object_permissions(self.request, cc)
        return cc

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        context = self.get_serializer_context()
        context["advertised_runs"] = catalog_api.advertised_runs(page, context["now"])
        return self.get_paginated_response(CatalogCourseSerializer(page, many=True, context=context).data)

    @extend_schema(
        summary="Create a catalog course",
        request=CatalogCourseCreateSerializer,
        responses={201: CatalogCourseSerializer, 400: BAD_REQUEST},
    )
    def create(self, request: Request) -> Response:
        data = self._write(CatalogCourseCreateSerializer, request)
        cc = catalog_api.create_catalog_course(data.pop("org"), data.pop("course_code"), **data)
        return Response(CatalogCourseSerializer(cc, context=self.get_serializer_context()).data, status=201)

    @extend_schema(
        summary="Change a catalog course",
        parameters=[COURSE_LOOKUP],
        request=CatalogCourseUpdateSerializer,
        responses={200: CatalogCourseSerializer, 400: BAD_REQUEST},
    )
    def partial_update(self, request: Request, key: str) -> Response:
        cc = catalog_api.update_catalog_course(self.get_object(), **self._write(CatalogCourseUpdateSerializer, request))
        return Response(CatalogCourseSerializer(cc, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Delete a catalog course without runs",
        parameters=[COURSE_LOOKUP],
        responses={204: None, 409: CONFLICT},
    )
    def destroy(self, request: Request, key: str) -> Response:
        catalog_api.delete_catalog_course(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


RUN_LOOKUP = OpenApiParameter(
    "course_key",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The run's course key, e.g. course-v1:edX+DemoX+2026 (exact case).",
)
MODE_SLUG = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, enum=[m.value for m in ModeSlug])


@extend_schema_view(
    list=extend_schema(summary="List course runs with their modes, price and enrollability"),
    retrieve=extend_schema(summary="Get a course run", parameters=[RUN_LOOKUP]),
)
@extend_schema(tags=["catalog"])
class CourseRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _CatalogViewSet):
    """Scheduled runs of catalog courses, identified by their course key."""

    serializer_class = CourseRunSerializer
    filterset_class = CourseRunFilter
    lookup_field = "course_key"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return catalog_api.course_runs_queryset()

    def get_object(self) -> CourseRun:
        try:
            run = catalog_api.get_course_run(self.kwargs["course_key"])
        except CourseRun.DoesNotExist:
            raise NotFound("No such course run.") from None
        self.check_object_permissions(self.request, run)
        return run

    def _run_response(self, run: CourseRun, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(CourseRunSerializer(run, context=self.get_serializer_context()).data, status=status_code)

    @extend_schema(
        summary="Create a course run (and its organization and catalog course when needed)",
        description="Idempotent: when the run exists already it is returned unchanged with status 200.",
        request=CourseRunCreateSerializer,
        responses={201: CourseRunSerializer, 200: CourseRunSerializer, 400: BAD_REQUEST},
    )
    def create(self, request: Request) -> Response:
        data = self._write(CourseRunCreateSerializer, request)
        course_key = data.pop("course_key")
        existed = bool(catalog_api.get_course_runs([course_key]))
        data["modes"] = [ModeSpec(**mode) for mode in data["modes"]]
        run = catalog_api.create_course_run(course_key, **data)
        return self._run_response(run, status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a course run's title, schedule, pacing or marketability",
        parameters=[RUN_LOOKUP],
        request=CourseRunUpdateSerializer,
        responses={200: CourseRunSerializer, 400: BAD_REQUEST},
    )
    def partial_update(self, request: Request, course_key: str) -> Response:
        run = self.get_object()
        serializer = CourseRunUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        run = catalog_api.update_course_run(run, **serializer.validated_data)
        return self._run_response(run)

    @extend_schema(
        summary="Delete a course run (refused while enrollments refer to it)",
        parameters=[RUN_LOOKUP],
        responses={204: None, 409: CONFLICT},
    )
    def destroy(self, request: Request, course_key: str) -> Response:
        catalog_api.delete_course_run(self.get_object().course_key)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="List a run's modes",
        parameters=[RUN_LOOKUP],
        responses=CourseModeSerializer(many=True),
        filters=False,
    )
    @action(detail=True, methods=["get"], url_path="modes", pagination_class=None, filterset_class=None)
    def modes(self, request: Request, course_key: str) -> Response:
        run = self.get_object()
        return Response(CourseModeSerializer(run.modes.all(), many=True).data)

    @extend_schema(
        methods=["PUT"],
        summary="Offer a mode on a run at a price, or change it",
        parameters=[RUN_LOOKUP, MODE_SLUG],
        request=CourseModeWriteSerializer,
        responses={200: CourseModeSerializer, 400: BAD_REQUEST},
    )
    @extend_schema(
        methods=["DELETE"],
        summary="Stop offering a mode on a run",
        parameters=[RUN_LOOKUP, MODE_SLUG],
        responses={204: None},
    )
    @action(
        detail=True,
        methods=["put", "delete"],
        url_path=r"modes/(?P<slug>[^/]+)",
        pagination_class=None,
        filterset_class=None,
    )
    def mode(self, request: Request, course_key: str, slug: str) -> Response:
        run = self.get_object()
        if request.method == "DELETE":
            try:
                catalog_api.delete_course_mode(run, slug)
            except CourseMode.DoesNotExist:
                raise NotFound(f"The run does not offer the mode {slug!r}.") from None
            return Response(status=status.HTTP_204_NO_CONTENT)
        mode = catalog_api.set_course_mode(run, slug, **self._write(CourseModeWriteSerializer, request))
        return Response(CourseModeSerializer(mode).data)
