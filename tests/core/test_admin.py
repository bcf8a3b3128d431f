"""The role assignment admin grants and revokes through the role API."""

from __future__ import annotations

from rollbook.core import api as core_api
from rollbook.core.data import Role, Scope, ScopeKind
from rollbook.core.models import RoleAssignment

URL = "/admin/core/roleassignment/"


def test_changelist_and_add_form_render(admin_browser, operator):
    assert admin_browser.get(URL).status_code == 200
    assert admin_browser.get(URL + "?q=operator").status_code == 200
    assert admin_browser.get(URL + "add/").status_code == 200
    assignment = RoleAssignment.objects.get(user=operator)
    page = admin_browser.get(f"{URL}{assignment.pk}/change/")
    assert page.status_code == 200
    assert admin_browser.get(f"{URL}{assignment.pk}/history/").status_code == 200


def test_adding_grants_the_role_in_canonical_form(admin_browser, make_user):
    user = make_user()
    response = admin_browser.post(URL + "add/", {"user": user.pk, "role": "program_admin", "scope": "org:MITx"})
    assert response.status_code == 302, response.content
    assert core_api.has_role(user, Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, "mitx"))
    assert RoleAssignment.history.filter(user_id=user.pk, history_type="+").count() == 1


def test_adding_a_misfit_scope_shows_an_error_and_grants_nothing(admin_browser, make_user):
    user = make_user()
    response = admin_browser.post(URL + "add/", {"user": user.pk, "role": "operator", "scope": "org:MITx"})
    assert response.status_code == 200
    assert "takes a scope of kind global" in response.content.decode()
    response = admin_browser.post(URL + "add/", {"user": user.pk, "role": "program_admin", "scope": ""})
    assert response.status_code == 200
    assert "needs a scope" in response.content.decode()
    assert not RoleAssignment.objects.filter(user=user).exists()


def test_deleting_revokes_with_history(admin_browser, make_user):
    user = make_user()
    core_api.grant(user, Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, "MITx"))
    core_api.grant(user, Role.LEARNER)
    ids = list(RoleAssignment.objects.filter(user=user).values_list("pk", flat=True))
    response = admin_browser.post(URL, {"action": "delete_selected", "_selected_action": ids, "post": "yes"})
    assert response.status_code == 302
    assert core_api.roles_of(user) == []
    assert RoleAssignment.history.filter(user_id=user.pk, history_type="-").count() == 2
