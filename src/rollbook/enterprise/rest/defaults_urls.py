"""Enrollment and default-enrollment routes of the enterprise REST API (mounted at ``/enterprise/api/v1/``).

Path segments are matched as plain text and checked by the views, so callers are authenticated before a
malformed uuid is reported. The fixed ``learner-status/`` and ``realize/`` routes come before the intention
detail route, which would otherwise take them for uuids.
"""

from django.urls import path

from rollbook.enterprise.rest import defaults_views as views

INTENTIONS = "default-enterprise-enrollment-intentions/"

urlpatterns = [
    path(
        "enterprise-customer/<str:customer_uuid>/enroll_learners_in_courses/",
        views.EnrollLearnersInCoursesView.as_view(),
        name="enterprise-customer-enroll-learners-in-courses",
    ),
    path(INTENTIONS, views.IntentionListView.as_view(), name="default-enrollment-intentions"),
    path(
        INTENTIONS + "learner-status/",
        views.LearnerStatusView.as_view(),
        name="default-enrollment-intentions-learner-status",
    ),
    path(INTENTIONS + "realize/", views.RealizeView.as_view(), name="default-enrollment-intentions-realize"),
    path(
        INTENTIONS + "<str:intention_uuid>/",
        views.IntentionDetailView.as_view(),
        name="default-enrollment-intention",
    ),
    path(
        INTENTIONS + "<str:intention_uuid>/restore/",
        views.IntentionRestoreView.as_view(),
        name="default-enrollment-intention-restore",
    ),
    path(
        "enterprise-course-enrollment/",
        views.EnterpriseEnrollmentListView.as_view(),
        name="enterprise-course-enrollments",
    ),
    path(
        "enterprise-course-enrollment/<str:enrollment_id>/",
        views.EnterpriseEnrollmentDetailView.as_view(),
        name="enterprise-course-enrollment",
    ),
]
