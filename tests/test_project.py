"""Project-level promises: the README documents every setting the code reads."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _variables_read_by_code() -> set[str]:
    names = set()
    for path in (ROOT / "src" / "rollbook").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        names.update(re.findall(r"\"(ROLLBOOK_[A-Z0-9_]+)\"", text))
        names.update("ROLLBOOK_" + n for n in re.findall(r"env_(?:str|bool|int|list)\(\s*\"([A-Z0-9_]+)\"", text))
    return names


def test_readme_documents_every_environment_variable():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(ROLLBOOK_[A-Z0-9_]+)`", readme))
    used = _variables_read_by_code()
    assert used, "found no ROLLBOOK_ variables in the code; the scan is broken"
    assert used - documented == set(), "undocumented ROLLBOOK_ variables"
    assert documented - used == set(), "README documents variables the code does not read"


def test_openapi_schema_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--fail-on-warn", "--file", str(target))
    text = target.read_text(encoding="utf-8")
    for prefix in ("/api/catalog/v1/", "/api/enrollments/v1/", "/oauth2/access_token"):
        assert prefix in text


@pytest.mark.django_db
def test_postgresql_connections_run_without_jit():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL setting")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
