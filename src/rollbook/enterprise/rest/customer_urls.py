"""Customer, learner, consent, catalog, plan and license routes, mounted at ``/enterprise/api/v1/``.

Path segments are matched as plain text and checked by the views, so that callers are authenticated before
a malformed or unknown uuid is reported.
"""

from django.urls import path

from rollbook.enterprise.rest import customer_views as views

urlpatterns = [
    path("enterprise-customer/", views.CustomerListView.as_view(), name="enterprise-customer-list"),
    path(
        "enterprise-customer/<str:customer_uuid>/",
        views.CustomerDetailView.as_view(),
        name="enterprise-customer-detail",
    ),
    path(
        "enterprise-customer/<str:customer_uuid>/contains_content_items/",
        views.CustomerContainsContentItemsView.as_view(),
        name="enterprise-customer-contains-content-items",
    ),
    path(
        "enterprise-customer/<str:customer_uuid>/link_learners/",
        views.LinkLearnersView.as_view(),
        name="enterprise-customer-link-learners",
    ),
    path(
        "enterprise-customer/<str:customer_uuid>/unlink_users/",
        views.UnlinkLearnersView.as_view(),
        name="enterprise-customer-unlink-users",
    ),
    path(
        "enterprise-customer/<str:customer_uuid>/activate/",
        views.ActivateCustomerView.as_view(),
        name="enterprise-customer-activate",
    ),
    path("enterprise-learner/", views.LearnerListView.as_view(), name="enterprise-learner-list"),
    path("data_sharing_consent/", views.DataSharingConsentView.as_view(), name="enterprise-data-sharing-consent"),
    path("enterprise_catalogs/", views.CatalogListView.as_view(), name="enterprise-catalog-list"),
    path(
        "enterprise_catalogs/<str:catalog_uuid>/",
        views.CatalogDetailView.as_view(),
        name="enterprise-catalog-detail",
    ),
    path(
        "enterprise_catalogs/<str:catalog_uuid>/contains_content_items/",
        views.CatalogContainsContentItemsView.as_view(),
        name="enterprise-catalog-contains-content-items",
    ),
    path("subscriptions/", views.PlanListView.as_view(), name="subscription-plan-list"),
    path("subscriptions/<str:plan_uuid>/", views.PlanDetailView.as_view(), name="subscription-plan-detail"),
    path(
        "subscriptions/<str:plan_uuid>/licenses/",
        views.PlanLicenseListView.as_view(),
        name="subscription-plan-licenses",
    ),
    path(
        "subscriptions/<str:plan_uuid>/licenses/assign/",
        views.AssignLicensesView.as_view(),
        name="subscription-plan-licenses-assign",
    ),
    path(
        "subscriptions/<str:plan_uuid>/licenses/revoke/",
        views.RevokeLicensesView.as_view(),
        name="subscription-plan-licenses-revoke",
    ),
    path("licenses/", views.LearnerLicenseListView.as_view(), name="learner-license-list"),
    path(
        "licenses/<str:license_uuid>/activate/",
        views.ActivateLicenseView.as_view(),
        name="learner-license-activate",
    ),
]
