"""Assignment and policy routes in the enterprise-access shapes, mounted at ``/api/v1/``.

Path segments are matched as plain text and checked by the views, so that callers are authenticated before
a malformed or unknown uuid is reported. The fixed ``cancel/``, ``remind/``… routes come before the
assignment detail route, which would otherwise take them for uuids.
"""

from django.urls import path

from rollbook.assignments.rest import admin_views, learner_views, policy_views

CONFIGURATION = "assignment-configurations/<str:configuration_uuid>/"
ADMIN = CONFIGURATION + "admin/assignments/"

urlpatterns = [
    path(ADMIN, admin_views.AdminAssignmentListView.as_view(), name="admin-assignments"),
    path(ADMIN + "cancel/", admin_views.CancelView.as_view(), name="admin-assignments-cancel"),
    path(ADMIN + "remind/", admin_views.RemindView.as_view(), name="admin-assignments-remind"),
    path(ADMIN + "cancel-all/", admin_views.CancelAllView.as_view(), name="admin-assignments-cancel-all"),
    path(ADMIN + "remind-all/", admin_views.RemindAllView.as_view(), name="admin-assignments-remind-all"),
    path(ADMIN + "nudge/", admin_views.NudgeView.as_view(), name="admin-assignments-nudge"),
    path(ADMIN + "<str:assignment_uuid>/", admin_views.AdminAssignmentDetailView.as_view(), name="admin-assignment"),
    path(CONFIGURATION + "assignments/", learner_views.LearnerAssignmentListView.as_view(), name="learner-assignments"),
    path(
        CONFIGURATION + "acknowledge-assignments/",
        learner_views.AcknowledgeView.as_view(),
        name="learner-assignments-acknowledge",
    ),
    path("policy-allocation/<str:budget_uuid>/allocate/", policy_views.AllocateView.as_view(), name="policy-allocate"),
    path(
        "policy-redemption/credits_available/",
        policy_views.CreditsAvailableView.as_view(),
        name="policy-credits-available",
    ),
    path(
        "policy-redemption/enterprise-customer/<str:customer_uuid>/can-redeem/",
        policy_views.CanRedeemView.as_view(),
        name="policy-can-redeem",
    ),
    path("policy-redemption/<str:budget_uuid>/redeem/", policy_views.RedeemView.as_view(), name="policy-redeem"),
]
