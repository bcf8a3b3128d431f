"""REST routes of the programs app (Open edX program-enrollments v1 shape)."""

urlpatterns: list = []
