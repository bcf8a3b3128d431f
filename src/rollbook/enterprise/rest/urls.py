"""Routes of the enterprise REST API, mounted at ``/enterprise/api/v1/``: the customer, learner,
consent, catalog, plan and license routes (``customer_urls``) and the enrollment and default-enrollment
routes (``defaults_urls``)."""

from rollbook.enterprise.rest import customer_urls, defaults_urls

urlpatterns = [*customer_urls.urlpatterns, *defaults_urls.urlpatterns]
