"""REST routes of the programs app, mounted at ``/api/program_enrollments/v1/`` (Open edX LMS v1 shape).

Path segments are matched as plain text and checked by the views, so that callers are authenticated
before a malformed uuid or course key is reported (400) or an unknown one (404).
"""

from django.urls import path

from rollbook.programs.rest import views

urlpatterns = [
    path(
        "programs/<str:program_uuid>/enrollments/",
        views.ProgramEnrollmentsView.as_view(),
        name="program-enrollments",
    ),
    path(
        "programs/<str:program_uuid>/enrollments/roster/",
        views.ProgramRosterView.as_view(),
        name="program-enrollments-roster",
    ),
    path(
        "programs/<str:program_uuid>/enrollments/upload/",
        views.ProgramEnrollmentUploadView.as_view(),
        name="program-enrollments-upload",
    ),
    path(
        "programs/<str:program_uuid>/course_enrollments/upload/",
        views.ProgramCourseEnrollmentUploadView.as_view(),
        name="program-course-enrollments-upload",
    ),
    path(
        "programs/<str:program_uuid>/courses/<str:course_key>/enrollments/",
        views.ProgramCourseEnrollmentsView.as_view(),
        name="program-course-enrollments",
    ),
    path(
        "programs/<str:program_uuid>/courses/<str:course_key>/enrollments/roster/",
        views.ProgramCourseRosterView.as_view(),
        name="program-course-enrollments-roster",
    ),
    path("jobs/", views.JobListView.as_view(), name="program-enrollment-jobs"),
    path("jobs/<str:job_uuid>/", views.JobDetailView.as_view(), name="program-enrollment-job"),
    path("jobs/<str:job_uuid>/result.csv", views.JobResultView.as_view(), name="program-enrollment-job-result"),
]
