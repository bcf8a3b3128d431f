"""catalog.api is the catalog's one public entry point: its surface stays whole and nothing bypasses it."""

import re
from pathlib import Path

from rollbook.catalog import api as catalog_api

ROOT = Path(__file__).resolve().parents[2]

# The public names other code relied on before the import machinery, the input rules and the
# advertised-run rules moved into their own modules.
NAMES_BEFORE_THE_SPLIT = {
    "UNSET",
    "UnknownOrganization",
    "advertised_run",
    "advertised_runs",
    "best_mode",
    "catalog_courses_queryset",
    "choose_advertised_run",
    "choose_best_mode",
    "course_runs_queryset",
    "create_catalog_course",
    "create_course_run",
    "create_course_run_for_modulestore_course_with",
    "create_organization",
    "delete_catalog_course",
    "delete_course_mode",
    "delete_course_run",
    "delete_organization",
    "enroll_by_date",
    "enrollable_q",
    "ensure_organization",
    "format_mode_specs",
    "get_catalog_course",
    "get_course_run",
    "get_course_runs",
    "get_organization",
    "import_catalog_rows",
    "is_enrollable",
    "is_upgradeable",
    "language_short",
    "mode_slugs_by_run",
    "normalise_language",
    "organizations_queryset",
    "paid_mode",
    "parse_course_key",
    "parse_mode_specs",
    "run_price",
    "set_course_mode",
    "set_organizations_active",
    "set_runs_marketable",
    "sync_course_run_details",
    "update_catalog_course",
    "update_course_run",
    "update_organization",
    "validate_import_columns",
}


def test_every_listed_name_is_available_from_the_api_module():
    missing = [name for name in catalog_api.__all__ if not hasattr(catalog_api, name)]
    assert missing == []


def test_the_public_surface_kept_every_name():
    assert NAMES_BEFORE_THE_SPLIT - set(catalog_api.__all__) == set()


def test_no_code_outside_the_catalog_app_imports_its_internal_modules():
    internal = re.compile(r"rollbook\.catalog(?:\.| import )(?:importing|rules|offers)\b")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("src", "tests", "bench")
        for path in (ROOT / folder).rglob("*.py")
        if "catalog" not in path.relative_to(ROOT).parts[:3] and internal.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
