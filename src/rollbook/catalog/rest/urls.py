"""REST routes of the catalog app, mounted at /api/catalog/v1/."""

from rest_framework.routers import SimpleRouter

from rollbook.catalog.rest import views

# SimpleRouter adds no format-suffix routes, which would be ambiguous with the dots allowed in keys.
router = SimpleRouter()
router.register("organizations", views.OrganizationViewSet, basename="catalog-organization")
router.register("courses", views.CatalogCourseViewSet, basename="catalog-course")
router.register("runs", views.CourseRunViewSet, basename="catalog-run")

urlpatterns = router.urls
