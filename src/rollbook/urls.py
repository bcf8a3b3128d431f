"""Root URL configuration. Each app contributes its own ``rest/urls.py``."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("rollbook.identity.rest.urls")),  # /oauth2/access_token, /api/identity/v1/
    path("api/catalog/v1/", include("rollbook.catalog.rest.urls")),
    path("api/enrollments/v1/", include("rollbook.enrollments.rest.urls")),
    path("api/program_enrollments/v1/", include("rollbook.programs.rest.urls")),
    path("enterprise/api/v1/", include("rollbook.enterprise.rest.urls")),
    path("api/v1/", include("rollbook.assignments.rest.urls")),  # enterprise-access assignments and policies
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
