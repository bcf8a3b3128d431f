"""Organizations: ensure (auto-create on/off), create, get, update, delete."""

import pytest
from django.db.models import ProtectedError

from rollbook.catalog import api as catalog_api
from rollbook.catalog.models import Organization
from rollbook.core.errors import InvalidInput


@pytest.fixture
def autocreate_off(settings):
    settings.ORGANIZATIONS_AUTOCREATE = False


def test_ensure_returns_the_active_organization_ignoring_case(db):
    org = catalog_api.create_organization("edX", name="edX Inc.")
    assert catalog_api.ensure_organization("EDX") == org
    assert Organization.objects.count() == 1


def test_ensure_creates_a_missing_organization_named_after_its_short_name(db):
    org = catalog_api.ensure_organization("MITx")
    assert (org.short_name, org.name, org.active) == ("MITx", "MITx", True)
    assert org.history.count() == 1


def test_ensure_reactivates_an_inactive_organization_unchanged(db):
    org = catalog_api.create_organization("edX", name="edX Inc.", active=False)
    again = catalog_api.ensure_organization("edx")
    assert again.pk == org.pk
    assert (again.short_name, again.name, again.active) == ("edX", "edX Inc.", True)


def test_ensure_with_autocreate_off_refuses_unknown_and_inactive_organizations(db, autocreate_off):
    catalog_api.create_organization("edX", active=False)
    with pytest.raises(catalog_api.UnknownOrganization) as unknown:
        catalog_api.ensure_organization("MITx")
    with pytest.raises(ValueError, match="inactive"):
        catalog_api.ensure_organization("edX")
    assert isinstance(unknown.value, InvalidInput)
    assert "org" in unknown.value.errors
    assert not Organization.objects.get(short_name="edX").active
    assert Organization.objects.count() == 1


def test_ensure_with_autocreate_off_returns_an_active_organization(db, autocreate_off):
    org = catalog_api.create_organization("edX")
    assert catalog_api.ensure_organization("edx") == org


@pytest.mark.parametrize("short_name", ["ed X", "", "edX/1", "édX", None])
def test_short_names_with_invalid_characters_are_refused(db, short_name):
    with pytest.raises(InvalidInput):
        catalog_api.ensure_organization(short_name)
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_organization(short_name)
    assert "short_name" in exc.value.errors
    assert not Organization.objects.exists()


def test_create_refuses_a_short_name_taken_ignoring_case(db):
    catalog_api.create_organization("edX")
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_organization("EDX")
    assert "short_name" in exc.value.errors


def test_get_by_short_name_any_case_or_uuid(db):
    org = catalog_api.create_organization("edX")
    assert catalog_api.get_organization("EDX") == org
    assert catalog_api.get_organization(str(org.uuid)) == org
    assert catalog_api.get_organization(org.uuid) == org
    with pytest.raises(Organization.DoesNotExist):
        catalog_api.get_organization("MITx")


def test_update_changes_only_the_given_fields(db):
    org = catalog_api.create_organization("edX", name="edX Inc.", description="about")
    catalog_api.update_organization("edx", name="edX Foundation")
    org.refresh_from_db()
    assert (org.short_name, org.name, org.description) == ("edX", "edX Foundation", "about")


def test_rename_is_refused_while_the_organization_has_runs_but_recasing_is_allowed(make_run):
    make_run("course-v1:edX+DemoX+2027")
    with pytest.raises(InvalidInput) as exc:
        catalog_api.update_organization("edX", short_name="edX2")
    assert "short_name" in exc.value.errors
    org = catalog_api.update_organization("edX", short_name="EDX")
    assert org.short_name == "EDX"
    assert org.short_name_normalized == "edx"


def test_rename_without_runs_is_allowed_unless_the_name_is_taken(db):
    catalog_api.create_organization("edX")
    catalog_api.create_organization("MITx")
    with pytest.raises(InvalidInput):
        catalog_api.update_organization("edX", short_name="mitx")
    org = catalog_api.update_organization("edX", short_name="edX2")
    assert catalog_api.get_organization("EDX2") == org


def test_set_organizations_active_is_set_based_and_keeps_history(db, django_assert_max_num_queries):
    orgs = [catalog_api.create_organization(f"org{n}") for n in range(5)]
    with django_assert_max_num_queries(4):
        changed = catalog_api.set_organizations_active(orgs, active=False)
    assert changed == 5
    assert not Organization.objects.filter(active=True).exists()
    assert all(org.history.count() == 2 for org in Organization.objects.all())
    assert catalog_api.set_organizations_active(orgs, active=False) == 0


def test_delete_is_protected_while_catalog_courses_exist(db):
    catalog_api.create_catalog_course("edX", "DemoX")
    with pytest.raises(ProtectedError):
        catalog_api.delete_organization("edX")
    catalog_api.create_organization("Empty")
    catalog_api.delete_organization("empty")
    assert list(Organization.objects.values_list("short_name", flat=True)) == ["edX"]
