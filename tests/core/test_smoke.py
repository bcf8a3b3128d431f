import io

from django.core.management import call_command


def test_no_missing_migrations(db):
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", verbosity=1, stdout=out)
    except SystemExit:
        raise AssertionError("Models changed without a migration:\n" + out.getvalue()) from None


def test_schema_is_served(operator_api):
    response = operator_api.get("/api/schema/")
    assert response.status_code == 200
