"""REST routes of the identity app (included at the site root)."""

from django.urls import path

from rollbook.identity.rest import views

urlpatterns = [
    path("oauth2/access_token", views.AccessTokenView.as_view(), name="oauth2-access-token"),
    path("api/identity/v1/me/", views.MeView.as_view(), name="identity-me"),
    path("api/identity/v1/users/", views.UserListView.as_view(), name="identity-users"),
    path("api/identity/v1/users/<str:uuid>/", views.UserDetailView.as_view(), name="identity-user-detail"),
]
