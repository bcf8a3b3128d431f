"""REST routes of the identity app."""

urlpatterns: list = []
