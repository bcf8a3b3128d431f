"""REST routes of the enrollments app, mounted at ``/api/enrollments/v1/``."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from rollbook.enrollments.rest.views import BulkEnrollView, EnrollmentViewSet

router = SimpleRouter()
router.register("enrollments", EnrollmentViewSet, basename="enrollment")

urlpatterns = [
    path("enrollments/bulk/", BulkEnrollView.as_view(), name="enrollment-bulk"),
    *router.urls,
]
