"""REST routes of the enrollments app."""

urlpatterns: list = []
