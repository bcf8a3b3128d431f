"""The catalog REST API at /api/catalog/v1/: permissions, lookups, writes, filters, 400s and query counts."""

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSpec
from rollbook.catalog.models import CatalogCourse, CourseMode, CourseRun, Organization

BASE = "/api/catalog/v1"
KEY = "course-v1:edX+DemoX+2027"


def days(n: float) -> timedelta:
    return timedelta(days=n)


@pytest.fixture
def run(db):
    now = timezone.now()
    return catalog_api.create_course_run(
        KEY,
        title="Demo",
        language="es-419",
        start=now - days(5),
        end=now + days(60),
        enrollment_end=now + days(30),
        modes=[ModeSpec("audit"), ModeSpec("verified", 4900, upgrade_deadline=now + days(20))],
    )


# --- permissions ---------------------------------------------------------------------------------

READ_URLS = [
    f"{BASE}/organizations/",
    f"{BASE}/organizations/edX/",
    f"{BASE}/courses/",
    f"{BASE}/courses/catalog-course:edX:DemoX/",
    f"{BASE}/runs/",
    f"{BASE}/runs/{KEY}/",
    f"{BASE}/runs/{KEY}/modes/",
]


@pytest.mark.parametrize("url", READ_URLS)
def test_anonymous_callers_get_401(anon, run, url):
    assert anon.get(url).status_code == 401


@pytest.mark.parametrize("url", READ_URLS)
def test_learners_may_read(learner_api, run, url):
    assert learner_api.get(url).status_code == 200


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", f"{BASE}/organizations/", {"short_name": "MITx"}),
        ("patch", f"{BASE}/organizations/edX/", {"name": "x"}),
        ("delete", f"{BASE}/organizations/edX/", None),
        ("post", f"{BASE}/courses/", {"org": "edX", "course_code": "New"}),
        ("patch", f"{BASE}/courses/catalog-course:edX:DemoX/", {"title": "x"}),
        ("delete", f"{BASE}/courses/catalog-course:edX:DemoX/", None),
        ("post", f"{BASE}/runs/", {"course_key": "course-v1:edX+DemoX+2028"}),
        ("patch", f"{BASE}/runs/{KEY}/", {"title": "x"}),
        ("delete", f"{BASE}/runs/{KEY}/", None),
        ("put", f"{BASE}/runs/{KEY}/modes/honor/", {"price_cents": 0}),
        ("delete", f"{BASE}/runs/{KEY}/modes/audit/", None),
    ],
)
def test_learners_may_not_write_and_anonymous_callers_must_authenticate(learner_api, anon, run, method, url, body):
    assert getattr(learner_api, method)(url, body, format="json").status_code == 403
    assert getattr(anon, method)(url, body, format="json").status_code == 401
    assert CourseRun.objects.get().title == "Demo"
    assert CatalogCourse.objects.count() == Organization.objects.count() == 1
    assert CourseMode.objects.count() == 2


# --- organizations -------------------------------------------------------------------------------


def test_operator_creates_reads_updates_and_deletes_organizations(operator_api, db):
    created = operator_api.post(f"{BASE}/organizations/", {"short_name": "MITx", "name": "MIT"}, format="json")
    assert created.status_code == 201
    assert created.json()["short_name"] == "MITx"
    by_uuid = operator_api.get(f"{BASE}/organizations/{created.json()['uuid']}/")
    assert by_uuid.json()["name"] == "MIT"
    patched = operator_api.patch(f"{BASE}/organizations/mitx/", {"name": "MIT OCW", "active": False}, format="json")
    assert (patched.status_code, patched.json()["name"], patched.json()["active"]) == (200, "MIT OCW", False)
    assert operator_api.delete(f"{BASE}/organizations/MITX/").status_code == 204
    assert operator_api.get(f"{BASE}/organizations/MITx/").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"short_name": "ed X"}, "short_name"),
        ({"short_name": "EDX"}, "short_name"),
        ({}, "short_name"),
        ({"short_name": "ok", "active": "maybe"}, "active"),
        ({"short_name": ["a"]}, "short_name"),
    ],
)
def test_organization_create_400s(operator_api, run, body, field):
    response = operator_api.post(f"{BASE}/organizations/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_organization_rename_with_runs_is_a_400_and_delete_with_courses_a_409(operator_api, run):
    response = operator_api.patch(f"{BASE}/organizations/edX/", {"short_name": "edX2"}, format="json")
    assert response.status_code == 400
    assert "short_name" in response.json()
    assert operator_api.delete(f"{BASE}/organizations/edX/").status_code == 409
    assert Organization.objects.get().short_name == "edX"


def test_organization_filters(operator_api, db):
    catalog_api.create_organization("edX", name="edX Inc.")
    catalog_api.create_organization("MITx", name="Massachusetts", active=False)
    assert [o["short_name"] for o in operator_api.get(f"{BASE}/organizations/?active=false").json()["results"]] == [
        "MITx"
    ]
    assert [o["short_name"] for o in operator_api.get(f"{BASE}/organizations/?search=inc").json()["results"]] == ["edX"]
    assert operator_api.get(f"{BASE}/organizations/?active=perhaps").status_code == 400


# --- catalog courses -----------------------------------------------------------------------------


def test_course_lookup_by_key_any_org_case_or_uuid(learner_api, run):
    cc = run.catalog_course
    for ref in ("catalog-course:edX:DemoX", "catalog-course:EDX:DemoX", str(cc.uuid)):
        response = learner_api.get(f"{BASE}/courses/{ref}/")
        assert response.status_code == 200
        assert response.json()["key"] == "catalog-course:edX:DemoX"
    assert learner_api.get(f"{BASE}/courses/catalog-course:edX:demox/").status_code == 404
    bad = learner_api.get(f"{BASE}/courses/DemoX/")
    assert bad.status_code == 400
    assert "key" in bad.json()


def test_course_shows_its_advertised_run_and_language(learner_api, run):
    body = learner_api.get(f"{BASE}/courses/catalog-course:edX:DemoX/").json()
    assert body["advertised_run"]["course_key"] == KEY
    assert (body["language"], body["language_short"], body["org"]) == ("es-419", "es", "edX")


def test_operator_creates_updates_and_deletes_courses(operator_api, db):
    created = operator_api.post(
        f"{BASE}/courses/", {"org": "edX", "course_code": "New", "language": "zh-hans"}, format="json"
    )
    assert created.status_code == 201
    assert (created.json()["key"], created.json()["title"], created.json()["language"]) == (
        "catalog-course:edX:New",
        "New",
        "zh-cn",
    )
    assert created.json()["advertised_run"] is None
    patched = operator_api.patch(f"{BASE}/courses/catalog-course:edX:New/", {"title": "Renamed"}, format="json")
    assert patched.json()["title"] == "Renamed"
    assert operator_api.delete(f"{BASE}/courses/catalog-course:edX:New/").status_code == 204
    assert not CatalogCourse.objects.exists()


def test_deleting_a_course_with_runs_is_a_409(operator_api, run):
    assert operator_api.delete(f"{BASE}/courses/catalog-course:edX:DemoX/").status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"org": "edX", "course_code": "C", "language": "EN"}, "language"),
        ({"org": "edX", "course_code": "C", "language": "en_us"}, "language"),
        ({"org": "ed X", "course_code": "C"}, "org"),
        ({"org": "edX", "course_code": "C D"}, "course_code"),
        ({"org": "edX", "course_code": "demox"}, "course_code"),
        ({"org": "edX"}, "course_code"),
    ],
)
def test_course_create_400s(operator_api, run, body, field):
    response = operator_api.post(f"{BASE}/courses/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert CatalogCourse.objects.count() == 1


def test_course_create_with_unknown_org_and_autocreate_off(operator_api, db, settings):
    settings.ORGANIZATIONS_AUTOCREATE = False
    response = operator_api.post(f"{BASE}/courses/", {"org": "MITx", "course_code": "C"}, format="json")
    assert response.status_code == 400
    assert "auto-creating organizations is off" in response.json()["org"][0]


def test_course_filters(learner_api, db):
    catalog_api.create_catalog_course("edX", "A", title="Intro to Python", language="en")
    catalog_api.create_catalog_course("MITx", "B", title="Advanced Python", language="fr")
    catalog_api.create_catalog_course("MITx", "C", title="Biology", language="fr")

    def codes(query: str) -> list[str]:
        return sorted(c["course_code"] for c in learner_api.get(f"{BASE}/courses/?{query}").json()["results"])

    assert codes("org=mitx") == ["B", "C"]
    assert codes("language=fr&search=python") == ["B"]


# --- course runs ---------------------------------------------------------------------------------


def test_run_shows_modes_price_enrollability_and_enroll_by_date(learner_api, run):
    response = learner_api.get(f"{BASE}/runs/{KEY}/")
    body = response.json()
    assert response.status_code == 200
    assert (body["course_key"], body["catalog_course"], body["org"], body["run_code"]) == (
        KEY,
        "catalog-course:edX:DemoX",
        "edX",
        "2027",
    )
    assert sorted(m["slug"] for m in body["modes"]) == ["audit", "verified"]
    assert (body["best_mode"], body["price_cents"], body["currency"], body["is_enrollable"]) == (
        "verified",
        4900,
        "usd",
        True,
    )
    verified = next(m for m in body["modes"] if m["slug"] == "verified")
    assert body["enroll_by_date"] == verified["upgrade_deadline"]


def test_run_lookup_accepts_encoded_keys_and_is_case_sensitive(learner_api, run):
    assert learner_api.get(f"{BASE}/runs/{quote(KEY, safe='')}/").status_code == 200
    assert learner_api.get(f"{BASE}/runs/course-v1:EDX+DemoX+2027/").status_code == 404
    malformed = learner_api.get(f"{BASE}/runs/not-a-key/")
    assert malformed.status_code == 400
    assert "course_key" in malformed.json()


def test_operator_creates_a_run_idempotently(operator_api, db):
    body = {
        "course_key": "course-v1:MITx+Bio+2027",
        "title": "Biology",
        "language": "fr",
        "start": "2027-01-01T00:00:00Z",
        "end": "2027-05-01T00:00:00Z",
        "pacing": "self",
        "modes": [{"slug": "audit", "price_cents": 0}, {"slug": "verified", "price_cents": 9900}],
    }
    created = operator_api.post(f"{BASE}/runs/", body, format="json")
    assert created.status_code == 201
    assert (created.json()["title"], created.json()["language"], created.json()["pacing"]) == ("Biology", "fr", "self")
    assert created.json()["price_cents"] == 9900
    again = operator_api.post(f"{BASE}/runs/", {**body, "title": "Other"}, format="json")
    assert again.status_code == 200
    assert again.json()["title"] == "Biology"
    assert CourseRun.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"course_key": "course-v1:edX+DemoX"}, "course_key"),
        ({"course_key": "edX/DemoX/2028"}, "course_key"),
        ({"course_key": "course-v1:EDX+DEMOX+2027"}, "course_key"),
        ({"course_key": "course-v1:edX+New+1", "language": "EN"}, "language"),
        ({"course_key": "course-v1:edX+New+1", "modes": [{"slug": "gold", "price_cents": 0}]}, "modes"),
        ({"course_key": "course-v1:edX+New+1", "modes": [{"slug": "verified", "price_cents": -1}]}, "modes"),
        ({"course_key": "course-v1:edX+New+1", "modes": [{"slug": "audit", "price_cents": "free"}]}, "modes"),
        ({"course_key": "course-v1:edX+New+1", "modes": "audit:0"}, "modes"),
        ({"course_key": "course-v1:edX+New+1", "marketable": "maybe"}, "marketable"),
        ({"course_key": "course-v1:edX+New+1", "pacing": "fast"}, "pacing"),
        ({"course_key": "course-v1:edX+New+1", "start": "tomorrow"}, "start"),
        ({"course_key": "course-v1:edX+New+1", "start": "2027-02-01T00:00Z", "end": "2027-01-01T00:00Z"}, "end"),
        ({"course_key": 12}, "course_key"),
        ({}, "course_key"),
    ],
)
def test_run_create_400s(operator_api, run, body, field):
    response = operator_api.post(f"{BASE}/runs/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert CourseRun.objects.count() == 1


def test_run_create_with_unknown_org_and_autocreate_off(operator_api, db, settings):
    settings.ORGANIZATIONS_AUTOCREATE = False
    response = operator_api.post(f"{BASE}/runs/", {"course_key": "course-v1:MITx+A+1"}, format="json")
    assert response.status_code == 400
    assert "auto-creating organizations is off" in response.json()["course_key"][0]
    assert not Organization.objects.exists()


def test_run_update(operator_api, run):
    response = operator_api.patch(f"{BASE}/runs/{KEY}/", {"title": "New", "end": None}, format="json")
    assert response.status_code == 200
    assert (response.json()["title"], response.json()["end"]) == ("New", None)
    run.refresh_from_db()
    assert run.start is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"end": "2000-01-01T00:00Z"}, "end"),
        ({"title": ""}, "title"),
        ({"marketable": "perhaps"}, "marketable"),
        ({"enrollment_start": "nope"}, "enrollment_start"),
    ],
)
def test_run_update_400s(operator_api, run, body, field):
    response = operator_api.patch(f"{BASE}/runs/{KEY}/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_run_delete_and_conflict_when_enrolled(operator_api, run):
    from rollbook.enrollments.models import CourseEnrollment

    other = catalog_api.create_course_run("course-v1:edX+DemoX+2028")
    user = get_user_model().objects.create_user(username="enrolled", email="enrolled@example.com")
    CourseEnrollment.objects.create(user=user, course_run=run, mode="audit")
    assert operator_api.delete(f"{BASE}/runs/{KEY}/").status_code == 409
    assert operator_api.delete(f"{BASE}/runs/{other.course_key}/").status_code == 204
    assert list(CourseRun.objects.values_list("pk", flat=True)) == [run.pk]


def test_modes_list_set_and_delete(operator_api, run):
    url = f"{BASE}/runs/{KEY}/modes/"
    assert sorted(m["slug"] for m in operator_api.get(url).json()) == ["audit", "verified"]
    updated = operator_api.put(f"{url}verified/", {"price_cents": 5900, "currency": "EUR"}, format="json")
    assert (updated.status_code, updated.json()["price_cents"], updated.json()["currency"]) == (200, 5900, "eur")
    added = operator_api.put(f"{url}professional/", {"price_cents": 19900}, format="json")
    assert added.status_code == 200
    assert operator_api.delete(f"{url}audit/").status_code == 204
    assert operator_api.delete(f"{url}audit/").status_code == 404
    assert sorted(CourseMode.objects.values_list("slug", "price_cents")) == [
        ("professional", 19900),
        ("verified", 5900),
    ]


@pytest.mark.parametrize(
    ("slug", "body", "field"),
    [
        ("gold", {"price_cents": 0}, "slug"),
        ("verified", {"price_cents": -100}, "price_cents"),
        ("verified", {"price_cents": "lots"}, "price_cents"),
        ("verified", {}, "price_cents"),
        ("verified", {"price_cents": 1, "currency": "dollars"}, "currency"),
        ("verified", {"price_cents": 1, "upgrade_deadline": "soon"}, "upgrade_deadline"),
    ],
)
def test_mode_400s(operator_api, run, slug, body, field):
    response = operator_api.put(f"{BASE}/runs/{KEY}/modes/{slug}/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert sorted(CourseMode.objects.values_list("price_cents", flat=True)) == [0, 4900]


def test_modes_of_an_unknown_run_are_404(operator_api, db):
    assert operator_api.get(f"{BASE}/runs/course-v1:edX+Nope+1/modes/").status_code == 404
    assert operator_api.put(f"{BASE}/runs/course-v1:edX+Nope+1/modes/audit/", {"price_cents": 0}).status_code == 404


# --- run filters ---------------------------------------------------------------------------------


@pytest.fixture
def schedule(db):
    now = timezone.now()
    catalog_api.create_course_run("course-v1:edX+Py+open", title="Python open", start=now - days(3), end=now + days(40))
    catalog_api.create_course_run(
        "course-v1:edX+Py+closed",
        title="Python closed",
        start=now - days(3),
        end=now + days(40),
        enrollment_end=now - days(1),
        pacing="self",
    )
    catalog_api.create_course_run("course-v1:MITx+Bio+past", language="fr", start=now - days(90), end=now - days(30))
    catalog_api.create_course_run(
        "course-v1:MITx+Bio+future", start=now + days(30), enrollment_start=now + days(10), marketable=False
    )
    return now


def run_codes(client, query: str) -> list[str]:
    response = client.get(f"{BASE}/runs/?{query}")
    assert response.status_code == 200, response.json()
    return sorted(r["run_code"] for r in response.json()["results"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["closed", "future", "open", "past"]),
        ("enrollable=true", ["open"]),
        ("enrollable=false", ["closed", "future", "past"]),
        ("active=true", ["closed", "future", "open"]),
        ("active=false", ["past"]),
        ("org=MITX", ["future", "past"]),
        ("catalog_course=catalog-course:edX:Py", ["closed", "open"]),
        ("catalog_course=catalog-course:edX:Nope", []),
        ("language=fr", ["future", "past"]),
        ("pacing=self", ["closed"]),
        ("marketable=false", ["future"]),
        ("search=python", ["closed", "open"]),
    ],
)
def test_run_filters(learner_api, schedule, query, expected):
    assert run_codes(learner_api, query) == expected


def test_run_date_range_filters(learner_api, schedule):
    now = schedule
    after = quote((now - days(10)).isoformat())
    before = quote(now.isoformat())
    assert run_codes(learner_api, f"start_after={after}&start_before={before}") == ["closed", "open"]
    assert run_codes(learner_api, f"end_before={before}") == ["past"]
    assert run_codes(learner_api, f"end_after={before}") == ["closed", "open"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("enrollable=maybe", "enrollable"),
        ("active=sometimes", "active"),
        ("marketable=2", "marketable"),
        ("pacing=fast", "pacing"),
        ("start_after=yesterday", "start_after"),
        ("catalog_course=DemoX", "catalog_course"),
        ("page_size=100000", "page_size"),
        ("page_size=ten", "page_size"),
        ("page_size=0", "page_size"),
    ],
)
def test_bad_filters_are_400s(learner_api, schedule, query, field):
    response = learner_api.get(f"{BASE}/runs/?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_pagination_walks_every_run(learner_api, schedule):
    seen, url = [], f"{BASE}/runs/?page_size=3"
    while url:
        body = learner_api.get(url).json()
        seen.extend(r["run_code"] for r in body["results"])
        url = body["next"]
    assert sorted(seen) == ["closed", "future", "open", "past"]


# --- query counts --------------------------------------------------------------------------------


def make_runs(count: int, offset: int = 0) -> None:
    now = timezone.now()
    for n in range(offset, offset + count):
        catalog_api.create_course_run(
            f"course-v1:Org{n % 2}+C{n}+R",
            start=now - days(1),
            end=now + days(90),
            modes=[ModeSpec("audit"), ModeSpec("verified", 100 + n, upgrade_deadline=now + days(30))],
        )


@pytest.mark.parametrize("path", ["runs", "courses", "organizations"])
def test_list_queries_do_not_grow_with_the_page(learner_api, db, django_assert_max_num_queries, path):
    make_runs(2)
    with django_assert_max_num_queries(10) as small:
        assert len(learner_api.get(f"{BASE}/{path}/?page_size=100").json()["results"]) == 2
    make_runs(40, offset=2)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = learner_api.get(f"{BASE}/{path}/?page_size=100")
    assert len(response.json()["results"]) == 2 if path == "organizations" else 42
