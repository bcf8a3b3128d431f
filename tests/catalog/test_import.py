"""import_catalog_rows: per-row results, dry runs, duplicates, errors, set-based queries, history."""

import pytest

from rollbook.catalog import api as catalog_api
from rollbook.catalog.models import CatalogCourse, CourseMode, CourseRun, Organization
from rollbook.core.errors import InvalidInput
from tests.catalog.conftest import NOW, days

KEY = "course-v1:edX+DemoX+2027"


def row(course_key: str = KEY, **cells: str) -> dict[str, str]:
    return {"course_key": course_key, **cells}


def statuses(results) -> list[str]:
    return [result.status.value for result in results]


def test_new_rows_create_organizations_courses_runs_and_modes(db):
    results = catalog_api.import_catalog_rows(
        [
            row(
                title="Demo",
                language="es-419",
                start="2027-01-01T00:00Z",
                end="2027-03-01",
                modes="audit:0;verified:4900",
            ),
            row("course-v1:edX+DemoX+2028", pacing="self", marketable="no"),
        ]
    )
    assert statuses(results) == ["created", "created"]
    cc = CatalogCourse.objects.get()
    assert (cc.key_str, cc.title, cc.language) == ("catalog-course:edX:DemoX", "Demo", "es-419")
    first, second = CourseRun.objects.order_by("run_code")
    assert (first.title, first.start.isoformat(), first.end.isoformat()) == (
        "Demo",
        "2027-01-01T00:00:00+00:00",
        "2027-03-01T00:00:00+00:00",
    )
    assert (second.title, second.pacing, second.marketable) == ("Demo", "self", False)
    assert sorted(first.modes.values_list("slug", "price_cents")) == [("audit", 0), ("verified", 4900)]
    assert Organization.history.count() == CatalogCourse.history.count() == 1
    assert CourseRun.history.count() == 2
    assert CourseMode.history.count() == 2
    assert {change.field for change in results[0].changes} >= {"organization", "catalog_course", "title", "modes"}


def test_existing_rows_report_exactly_what_changed(make_run):
    make_run(KEY, title="Old", start=NOW, end=NOW + days(60), modes={"audit": 0, "verified": 4900})
    results = catalog_api.import_catalog_rows(
        [row(title="New", end="none", modes="audit:0;professional:9900", marketable="true")]
    )
    assert statuses(results) == ["updated"]
    changes = {change.field: (change.old, change.new) for change in results[0].changes}
    assert changes == {
        "title": ("Old", "New"),
        "end": ("2027-04-30T12:00:00Z", ""),
        "modes": ("audit:0;verified:4900", "audit:0;professional:9900"),
    }
    run = CourseRun.objects.get()
    assert (run.title, run.end) == ("New", None)
    assert sorted(run.modes.values_list("slug", flat=True)) == ["audit", "professional"]
    assert CourseMode.history.filter(history_type="-", slug="verified").count() == 1
    assert run.history.count() == 2


def test_rows_without_changes_are_unchanged_and_write_nothing(make_run):
    make_run(KEY, title="Same", modes={"audit": 0})
    results = catalog_api.import_catalog_rows([row(title="Same", modes="audit:0", pacing="instructor")])
    assert statuses(results) == ["unchanged"]
    assert CourseRun.history.count() == 1
    assert CourseMode.history.count() == 1


def test_empty_cells_leave_fields_alone(make_run):
    make_run(KEY, title="Keep", start=NOW, modes={"audit": 0})
    assert statuses(catalog_api.import_catalog_rows([row(title="", start="", modes="")])) == ["unchanged"]
    run = CourseRun.objects.get()
    assert (run.title, run.start, run.modes.count()) == ("Keep", NOW, 1)


def test_language_updates_the_catalog_course(make_run):
    make_run(KEY, language="en")
    results = catalog_api.import_catalog_rows([row(language="fr")])
    assert [(c.field, c.old, c.new) for c in results[0].changes] == [("language", "en", "fr")]
    assert CatalogCourse.objects.get().language == "fr"


def test_conflicting_languages_for_one_catalog_course_are_errors(db):
    results = catalog_api.import_catalog_rows([row(language="en"), row("course-v1:edX+DemoX+2028", language="fr")])
    assert statuses(results) == ["error", "error"]
    assert "language" in results[0].errors
    assert not CourseRun.objects.exists()


def test_bad_rows_are_reported_and_the_others_applied(db):
    results = catalog_api.import_catalog_rows(
        [
            row("not-a-key"),
            row(""),
            row("course-v1:edX+A+1", start="yesterday"),
            row("course-v1:edX+B+1", start="2027-02-01T00:00Z", end="2027-01-01T00:00Z"),
            row("course-v1:edX+C+1", language="EN", pacing="fast", marketable="maybe"),
            row("course-v1:edX+D+1", modes="verified:-1"),
            row("course-v1:edX+E+1", title="Good"),
        ]
    )
    assert statuses(results) == ["error"] * 6 + ["created"]
    assert [sorted(result.errors) for result in results[:6]] == [
        ["course_key"],
        ["course_key"],
        ["start"],
        ["end"],
        ["language", "marketable", "pacing"],
        ["modes"],
    ]
    assert list(CourseRun.objects.values_list("title", flat=True)) == ["Good"]


def test_a_row_with_too_many_cells_is_an_error(db):
    results = catalog_api.import_catalog_rows([{"course_key": KEY, None: ["extra"]}])
    assert statuses(results) == ["error"]
    assert "row" in results[0].errors


def test_repeated_keys_are_all_reported_duplicated_and_not_applied(db):
    results = catalog_api.import_catalog_rows(
        [row(title="a"), row("course-v1:edX+Other+1"), row(title="b"), row("course-v1:EDX+DEMOX+2027")]
    )
    assert statuses(results) == ["duplicated", "created", "duplicated", "duplicated"]
    assert list(CourseRun.objects.values_list("course_key", flat=True)) == [
        catalog_api.parse_course_key("course-v1:edX+Other+1")
    ]


def test_case_rules_match_create_course_run(make_run, caplog):
    make_run(KEY)
    results = catalog_api.import_catalog_rows(
        [
            row("course-v1:edX+DemoX+2027".replace("DemoX", "DEMOX")),
            row("course-v1:EDX+DemoX+2028"),
            row("course-v1:edX+demox+2029"),
        ]
    )
    assert statuses(results) == ["error", "created", "error"]
    assert "differs only in case" in results[0].errors["course_key"][0]
    assert "stored as" in results[1].warnings[0]
    assert CourseRun.objects.get(run_code="2028").catalog_course.course_code == "DemoX"


def test_autocreate_off_refuses_unknown_and_inactive_organizations(db, settings):
    settings.ORGANIZATIONS_AUTOCREATE = False
    catalog_api.create_organization("Sleepy", active=False)
    catalog_api.create_organization("edX")
    results = catalog_api.import_catalog_rows(
        [row("course-v1:MITx+A+1"), row("course-v1:Sleepy+A+1"), row("course-v1:edX+A+1")]
    )
    assert statuses(results) == ["error", "error", "created"]
    assert "unknown" in results[0].errors["course_key"][0]
    assert "inactive" in results[1].errors["course_key"][0]


def test_autocreate_on_reactivates_inactive_organizations(db):
    catalog_api.create_organization("Sleepy", active=False)
    results = catalog_api.import_catalog_rows([row("course-v1:Sleepy+A+1")])
    assert statuses(results) == ["created"]
    assert Organization.objects.get().active


def test_dry_run_writes_nothing_but_reports_the_same(make_run):
    make_run(KEY, title="Old")
    rows = [row(title="New"), row("course-v1:MITx+A+1", modes="audit:0"), row("bad")]
    before = (Organization.history.count(), CourseRun.history.count(), CourseMode.history.count())
    dry = catalog_api.import_catalog_rows(rows, dry_run=True)
    assert statuses(dry) == ["updated", "created", "error"]
    assert CourseRun.objects.get().title == "Old"
    assert Organization.objects.count() == 1
    assert (Organization.history.count(), CourseRun.history.count(), CourseMode.history.count()) == before
    real = catalog_api.import_catalog_rows(rows)
    assert [(r.status, r.changes, r.errors) for r in real] == [(r.status, r.changes, r.errors) for r in dry]


def import_rows(first: int, count: int, title: str):
    rows = [
        row(f"course-v1:Org{i % 3}+C{i}+R", title=title, modes=f"verified:{100 + len(title)}")
        for i in range(first, first + count)
    ]
    return catalog_api.import_catalog_rows(rows)


def test_queries_grow_with_batches_not_rows(db, settings, django_assert_max_num_queries):
    settings.BULK_BATCH_SIZE = 20
    with django_assert_max_num_queries(25) as first_batch:
        assert set(statuses(import_rows(100, 20, "a"))) == {"created"}
    one_batch = len(first_batch.captured_queries)
    with django_assert_max_num_queries(one_batch):
        import_rows(0, 1, "a")
    with django_assert_max_num_queries(3 * one_batch):
        assert set(statuses(import_rows(200, 60, "a"))) == {"created"}
    with django_assert_max_num_queries(25) as update_one_batch:
        assert set(statuses(import_rows(100, 20, "bb"))) == {"updated"}
    with django_assert_max_num_queries(3 * len(update_one_batch.captured_queries)):
        assert set(statuses(import_rows(200, 60, "bb"))) == {"updated"}
    assert CourseRun.objects.filter(title="bb").count() == 80
    assert CourseMode.objects.count() == 81
    assert CourseMode.objects.filter(slug="verified", price_cents=102).count() == 80


def test_progress_is_reported_per_stage(db):
    seen = []
    catalog_api.import_catalog_rows([row(), row("course-v1:edX+B+1")], on_progress=lambda s, n: seen.append((s, n)))
    assert seen == [("check", 2), ("write", 2)]


def test_validate_import_columns():
    assert catalog_api.validate_import_columns([" Course_Key ", "TITLE"]) == ["course_key", "title"]
    with pytest.raises(InvalidInput) as exc:
        catalog_api.validate_import_columns(["title", "colour", "title", None])
    problems = " ".join(exc.value.errors["columns"])
    assert "course_key" in problems
    assert "colour" in problems
    assert "Repeated" in problems


def test_removed_modes_get_one_history_row_each_with_queries_bounded_by_batches(
    db, settings, make_user, django_assert_max_num_queries
):
    settings.BULK_BATCH_SIZE = 20
    keys = [f"course-v1:Org+C{i}+R" for i in range(80)]
    assert set(statuses(catalog_api.import_catalog_rows([row(key, modes="audit:0;verified:100") for key in keys]))) == {
        "created"
    }
    editor = make_user("editor")
    with django_assert_max_num_queries(25) as one_batch:
        results = catalog_api.import_catalog_rows([row(key, modes="audit:0") for key in keys[:20]], changed_by=editor)
    assert set(statuses(results)) == {"updated"}
    with django_assert_max_num_queries(3 * len(one_batch.captured_queries)):
        catalog_api.import_catalog_rows([row(key, modes="audit:0") for key in keys[20:]], changed_by=editor)
    assert set(CourseMode.objects.values_list("slug", flat=True)) == {"audit"}
    removed = CourseMode.history.filter(history_type="-")
    assert removed.count() == 80
    assert set(removed.values_list("slug", flat=True)) == {"verified"}
    assert set(removed.values_list("history_user", flat=True)) == {editor.pk}
