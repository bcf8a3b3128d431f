"""Course modes (upsert, delete), best mode, price, enrollability, enroll-by date and the advertised run."""

from datetime import datetime

import pytest

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSpec
from rollbook.catalog.models import CourseMode, CourseRun
from rollbook.core.errors import InvalidInput
from tests.catalog.conftest import NOW, days

KEY = "course-v1:edX+DemoX+2027"


# --- modes -----------------------------------------------------------------------------------------


def test_set_course_mode_creates_then_updates(make_run):
    run = make_run(KEY)
    created = catalog_api.set_course_mode(KEY, "verified", price_cents=4900, upgrade_deadline=NOW)
    updated = catalog_api.set_course_mode(run, "verified", price_cents=5900, currency="EUR", name="Verified")
    assert updated.pk == created.pk
    updated.refresh_from_db()
    assert (updated.price_cents, updated.currency, updated.upgrade_deadline, updated.name) == (
        5900,
        "eur",
        None,
        "Verified",
    )
    assert CourseMode.objects.count() == 1
    assert updated.history.count() == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"slug": "gold", "price_cents": 0}, "slug"),
        ({"slug": "verified", "price_cents": -1}, "price_cents"),
        ({"slug": "verified", "price_cents": 1.5}, "price_cents"),
        ({"slug": "verified", "price_cents": True}, "price_cents"),
        ({"slug": "verified", "price_cents": "100"}, "price_cents"),
        ({"slug": "verified", "price_cents": 1, "currency": "dollars"}, "currency"),
        ({"slug": "verified", "price_cents": 1, "upgrade_deadline": datetime(2027, 1, 1)}, "upgrade_deadline"),
        ({"slug": "verified", "price_cents": 1, "upgrade_deadline": "2027-01-01"}, "upgrade_deadline"),
    ],
)
def test_set_course_mode_validates(make_run, kwargs, field):
    make_run(KEY)
    slug = kwargs.pop("slug")
    with pytest.raises(InvalidInput) as exc:
        catalog_api.set_course_mode(KEY, slug, **kwargs)
    assert field in exc.value.errors
    assert not CourseMode.objects.exists()


def test_set_course_mode_on_unknown_run(db):
    with pytest.raises(CourseRun.DoesNotExist):
        catalog_api.set_course_mode("course-v1:edX+Nope+1", "audit", price_cents=0)


def test_delete_course_mode(make_run):
    make_run(KEY, modes={"audit": 0, "verified": 4900})
    catalog_api.delete_course_mode(KEY, "verified")
    assert list(CourseMode.objects.values_list("slug", flat=True)) == ["audit"]
    with pytest.raises(CourseMode.DoesNotExist):
        catalog_api.delete_course_mode(KEY, "verified")
    with pytest.raises(InvalidInput):
        catalog_api.delete_course_mode(KEY, "gold")


def test_parse_and_format_mode_specs():
    specs = catalog_api.parse_mode_specs(" audit:0 ; verified:4900@2027-01-31T00:00Z;")
    assert specs == [
        ModeSpec("audit", 0),
        ModeSpec("verified", 4900, upgrade_deadline=datetime.fromisoformat("2027-01-31T00:00+00:00")),
    ]
    assert catalog_api.format_mode_specs(reversed(specs)) == "audit:0;verified:4900@2027-01-31T00:00:00Z"


@pytest.mark.parametrize(
    "text", ["audit", "audit:free", "audit:-1", "gold:0", "verified:1@tomorrow", "audit:0;audit:5"]
)
def test_parse_mode_specs_refuses(text):
    with pytest.raises(InvalidInput) as exc:
        catalog_api.parse_mode_specs(text)
    assert "modes" in exc.value.errors


# --- best mode and price ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slugs", "best"),
    [
        ({"audit", "verified", "professional"}, "verified"),
        ({"audit", "professional", "no-id-professional"}, "professional"),
        ({"honor", "no-id-professional"}, "no-id-professional"),
        ({"honor", "audit"}, "audit"),
        ({"honor", "unpaid-executive-education"}, "honor"),
        ({"unpaid-executive-education", "credit"}, "unpaid-executive-education"),
        ({"credit", "masters"}, "audit"),
        (set(), "audit"),
    ],
)
def test_best_mode_priority(make_run, slugs, best):
    run = make_run(KEY, modes=dict.fromkeys(slugs, 0))
    assert catalog_api.choose_best_mode(slugs) == best
    assert catalog_api.best_mode(run) == best


def test_best_mode_uses_prefetched_modes(make_run, django_assert_num_queries):
    make_run(KEY, modes={"audit": 0, "verified": 4900})
    run = catalog_api.course_runs_queryset().get()
    with django_assert_num_queries(0):
        assert catalog_api.best_mode(run) == "verified"
        assert catalog_api.run_price(run) == (4900, "usd")


def test_price_comes_from_the_paid_mode(make_run):
    assert catalog_api.run_price(make_run(KEY, modes={"audit": 0})) == (0, "usd")
    exec_ed = make_run("course-v1:edX+Exec+1", modes={"paid-executive-education": 250000})
    assert catalog_api.run_price(exec_ed) == (250000, "usd")
    both = make_run("course-v1:edX+Both+1", modes={"professional": 9900, "verified": 4900})
    assert catalog_api.run_price(both) == (4900, "usd")


# --- enrollability and enroll-by date --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "enrollable"),
    [
        ({}, True),
        ({"enrollment_start": NOW + days(1)}, False),
        ({"enrollment_start": NOW}, True),
        ({"enrollment_end": NOW}, False),
        ({"enrollment_end": NOW + days(1)}, True),
        ({"start": NOW - days(10), "end": NOW}, False),
        ({"start": NOW - days(10), "end": NOW + days(1)}, True),
    ],
)
def test_is_enrollable_and_the_enrollable_filter_agree(make_run, fields, enrollable):
    run = make_run(KEY, **fields)
    assert catalog_api.is_enrollable(run, NOW) is enrollable
    assert CourseRun.objects.filter(catalog_api.enrollable_q(NOW)).exists() is enrollable


def test_enroll_by_date_is_the_earlier_of_enrollment_end_and_the_upgrade_deadline(make_run):
    run = make_run(KEY, enrollment_end=NOW + days(30), modes={"audit": 0, "verified": (4900, NOW + days(10))})
    assert catalog_api.enroll_by_date(run) == NOW + days(10)
    late = make_run("course-v1:edX+Late+1", enrollment_end=NOW + days(5), modes={"verified": (4900, NOW + days(10))})
    assert catalog_api.enroll_by_date(late) == NOW + days(5)


def test_enroll_by_date_without_a_deadline_or_for_executive_education(make_run):
    free = make_run(KEY, start=NOW, end=NOW + days(40), modes={"audit": 0})
    assert catalog_api.enroll_by_date(free) == NOW + days(40)
    exec_ed = make_run(
        "course-v1:edX+Exec+1",
        enrollment_end=NOW + days(20),
        modes={"paid-executive-education": (250000, NOW + days(3))},
    )
    assert catalog_api.enroll_by_date(exec_ed) == NOW + days(20)
    assert catalog_api.enroll_by_date(make_run("course-v1:edX+Open+1")) is None


def test_is_upgradeable(make_run):
    run = make_run(KEY, modes={"audit": 0, "verified": (4900, NOW + days(1))})
    assert catalog_api.is_upgradeable(run, NOW)
    assert not catalog_api.is_upgradeable(run, NOW + days(1))
    assert not catalog_api.is_upgradeable(make_run("course-v1:edX+Free+1", modes={"audit": 0}), NOW)
    ended = make_run("course-v1:edX+Ended+1", start=NOW - days(9), end=NOW, modes={"verified": 4900})
    assert not catalog_api.is_upgradeable(ended, NOW)


# --- advertised run --------------------------------------------------------------------------------


def advertised(course_key: str = KEY) -> str | None:
    cc = catalog_api.get_course_run(course_key).catalog_course
    run = catalog_api.advertised_run(cc, NOW)
    return str(run.course_key) if run else None


PAID = {"audit": 0, "verified": 4900}


def test_current_upgradeable_runs_win_latest_start_first(make_run):
    make_run("course-v1:edX+DemoX+old", start=NOW - days(60), end=NOW + days(60), modes=PAID)
    make_run("course-v1:edX+DemoX+new", start=NOW - days(5), end=NOW + days(90), modes=PAID)
    make_run("course-v1:edX+DemoX+next", start=NOW + days(10), end=NOW + days(100), modes=PAID)
    assert advertised("course-v1:edX+DemoX+old") == "course-v1:edX+DemoX+new"


def test_a_run_ending_within_14_days_is_not_current(make_run):
    make_run("course-v1:edX+DemoX+ending", start=NOW - days(60), end=NOW + days(13), modes=PAID)
    make_run("course-v1:edX+DemoX+next", start=NOW + days(30), modes=PAID)
    make_run("course-v1:edX+DemoX+later", start=NOW + days(60), modes=PAID)
    assert advertised("course-v1:edX+DemoX+ending") == "course-v1:edX+DemoX+next"


def test_a_current_run_past_its_upgrade_deadline_gives_way_to_an_upcoming_one(make_run):
    make_run(
        "course-v1:edX+DemoX+now",
        start=NOW - days(10),
        end=NOW + days(60),
        modes={"audit": 0, "verified": (4900, NOW - days(1))},
    )
    make_run("course-v1:edX+DemoX+soon", start=NOW + days(20), modes=PAID)
    assert advertised("course-v1:edX+DemoX+now") == "course-v1:edX+DemoX+soon"


def test_without_upgradeable_runs_the_latest_start_wins(make_run):
    make_run("course-v1:edX+DemoX+past", start=NOW - days(100), end=NOW - days(10), modes=PAID)
    make_run("course-v1:edX+DemoX+free", start=NOW + days(20), modes={"audit": 0})
    make_run("course-v1:edX+DemoX+undated", modes={"audit": 0})
    assert advertised("course-v1:edX+DemoX+past") == "course-v1:edX+DemoX+free"


def test_only_marketable_runs_are_advertised(make_run):
    make_run("course-v1:edX+DemoX+hidden", start=NOW - days(5), end=NOW + days(90), modes=PAID, marketable=False)
    make_run("course-v1:edX+DemoX+shown", start=NOW - days(300), end=NOW - days(200), modes={"audit": 0})
    assert advertised("course-v1:edX+DemoX+hidden") == "course-v1:edX+DemoX+shown"
    catalog_api.set_runs_marketable(["course-v1:edX+DemoX+shown"], marketable=False)
    assert advertised("course-v1:edX+DemoX+hidden") is None


def test_advertised_runs_for_many_courses_in_two_queries(make_run, django_assert_num_queries):
    for n in range(5):
        make_run(f"course-v1:edX+C{n}+a", start=NOW - days(5), end=NOW + days(90), modes=PAID)
        make_run(f"course-v1:edX+C{n}+b", start=NOW + days(5), modes=PAID)
    courses = list(catalog_api.catalog_courses_queryset())
    with django_assert_num_queries(2):
        chosen = catalog_api.advertised_runs(courses, NOW)
    assert sorted(str(run.course_key) for run in chosen.values()) == [f"course-v1:edX+C{n}+a" for n in range(5)]
