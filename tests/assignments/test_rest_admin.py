"""Administrators' assignment endpoints: ``/api/v1/assignment-configurations/{uuid}/admin/assignments/`` list
(filters, search, ordering, pages, learner_state_counts, a constant number of statements), detail, cancel,
remind, cancel-all, remind-all and nudge, with tenant isolation on each."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollbook.assignments.data import ActionError, ActionType, AssignmentState
from rollbook.assignments.models import LearnerContentAssignment, LearnerContentAssignmentAction
from tests.budgets.conftest import make_budget
from tests.enterprise.conftest import DATA_KEY, PYTHON_KEY

PRICE = 4900


def make_assignment(configuration, email, *, content_key=PYTHON_KEY, state=AssignmentState.ALLOCATED, **fields):
    """An assignment written directly (the REST layer reads what the api wrote; these states need no emails)."""
    now = timezone.now()
    values = {
        "content_title": "Python for Everyone" if content_key == PYTHON_KEY else "Data Science",
        "content_quantity": -PRICE,
        "allocated_at": now - timedelta(days=1),
        **fields,
    }
    if state == AssignmentState.ACCEPTED:
        values.setdefault("accepted_at", now)
    if state == AssignmentState.CANCELLED:
        values.setdefault("cancelled_at", now)
    if state == AssignmentState.EXPIRED:
        values.setdefault("expired_at", now)
        values.setdefault("expiry_reason", "NINETY_DAYS_PASSED")
    if state == AssignmentState.ERRORED:
        values.setdefault("errored_at", now)
    return LearnerContentAssignment.objects.create(
        configuration=configuration, learner_email=email, content_key=content_key, state=state, **values
    )


def add_action(assignment, action_type, *, error=None, **fields):
    return LearnerContentAssignmentAction.objects.create(
        assignment=assignment,
        action_type=action_type,
        completed_at=timezone.now(),
        error_reason=error,
        **fields,
    )


def admin_url(configuration, suffix: str = "") -> str:
    return f"/api/v1/assignment-configurations/{configuration.uuid}/admin/assignments/{suffix}"


def states(configuration) -> dict[str, str]:
    return dict(LearnerContentAssignment.objects.filter(configuration=configuration).values_list("uuid", "state"))


def action_count() -> int:
    return LearnerContentAssignmentAction.objects.count()


@pytest.fixture
def configuration(acme_assigned_budget):
    return acme_assigned_budget.assignment_configuration


@pytest.fixture
def admin_api(client_for, acme_admin):
    return client_for(acme_admin)


@pytest.fixture
def world(configuration, acme_learner):
    """Seven assignments, one per learner state and then some:

    waiting (notified), notifying (not yet), failed (notification failed), errored, expired, cancelled, accepted.
    """
    rows = {
        "waiting": make_assignment(configuration, "Waiting@Acme.example", user=acme_learner),
        "notifying": make_assignment(configuration, "notifying@acme.example", content_key=DATA_KEY),
        "failed": make_assignment(configuration, "failed@acme.example"),
        "errored": make_assignment(configuration, "errored@acme.example", state=AssignmentState.ERRORED),
        "expired": make_assignment(configuration, "expired@acme.example", state=AssignmentState.EXPIRED),
        "cancelled": make_assignment(configuration, "cancelled@acme.example", state=AssignmentState.CANCELLED),
        "accepted": make_assignment(
            configuration, "accepted@acme.example", content_key=DATA_KEY, state=AssignmentState.ACCEPTED
        ),
    }
    add_action(rows["waiting"], ActionType.NOTIFIED)
    add_action(rows["failed"], ActionType.NOTIFIED, error=ActionError.EMAIL_ERROR)
    add_action(rows["errored"], ActionType.REDEEMED, error=ActionError.ENROLLMENT_ERROR)
    add_action(rows["expired"], ActionType.EXPIRED)
    return rows


def uuids_of(body) -> set[str]:
    return {item["uuid"] for item in body["results"]}


def uuids(*rows) -> set[str]:
    return {str(row.uuid) for row in rows}


# --- list ----------------------------------------------------------------------------------------------


def test_the_list_has_the_upstream_shape(admin_api, configuration, world):
    response = admin_api.get(admin_url(configuration))

    assert response.status_code == 200, response.content
    body = response.json()
    assert list(body) == ["count", "num_pages", "current_page", "next", "previous", "results", "learner_state_counts"]
    assert (body["count"], body["num_pages"], body["current_page"]) == (7, 1, 1)
    assert body["next"] is None and body["previous"] is None
    by_uuid = {item["uuid"]: item for item in body["results"]}
    waiting = by_uuid[str(world["waiting"].uuid)]
    assert waiting["learner_email"] == "Waiting@Acme.example"
    assert waiting["lms_user_id"] == world["waiting"].user_id
    assert waiting["content_key"] == PYTHON_KEY
    assert waiting["content_quantity"] == -PRICE
    assert waiting["state"] == "allocated"
    assert waiting["learner_state"] == "waiting"
    assert waiting["recent_action"]["action_type"] == "assigned"
    assert waiting["error_reason"] is None
    assert [action["action_type"] for action in waiting["actions"]] == ["notified"]
    assert waiting["earliest_possible_expiration"]["reason"] in {
        "NINETY_DAYS_PASSED",
        "ENROLLMENT_DATE_PASSED",
        "SUBSIDY_EXPIRED",
    }
    assert waiting["assignment_configuration"] == str(configuration.uuid)
    for field in ("parent_content_key", "is_assigned_course_run", "content_title", "preferred_course_run_key"):
        assert field in waiting
    for field in ("allocation_batch_id", "created", "modified"):
        assert field in waiting
    assert "accepted_at" not in waiting and "learner_email_normalized" not in waiting


def test_learner_states_error_reasons_and_counts(admin_api, configuration, world):
    body = admin_api.get(admin_url(configuration)).json()

    by_uuid = {item["uuid"]: item for item in body["results"]}
    learner_states = {name: by_uuid[str(row.uuid)]["learner_state"] for name, row in world.items()}
    assert learner_states == {
        "waiting": "waiting",
        "notifying": "notifying",
        "failed": "failed",
        "errored": "failed",
        "expired": "expired",
        "cancelled": None,
        "accepted": None,
    }
    assert by_uuid[str(world["failed"].uuid)]["error_reason"] == {
        "action_type": "notified",
        "error_reason": "email_error",
    }
    assert by_uuid[str(world["errored"].uuid)]["error_reason"] == {
        "action_type": "redeemed",
        "error_reason": "enrollment_error",
    }
    expired = by_uuid[str(world["expired"].uuid)]["earliest_possible_expiration"]
    assert expired["reason"] == "NINETY_DAYS_PASSED"
    assert by_uuid[str(world["cancelled"].uuid)]["earliest_possible_expiration"] is None
    counts = {item["learner_state"]: item["count"] for item in body["learner_state_counts"] if item["learner_state"]}
    assert counts == {"waiting": 1, "notifying": 1, "failed": 2, "expired": 1}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"state": "allocated"}, {"waiting", "notifying", "failed"}),
        ({"state__in": "cancelled,expired"}, {"cancelled", "expired"}),
        ({"learner_state": "failed"}, {"failed", "errored"}),
        ({"learner_state__in": "waiting,notifying"}, {"waiting", "notifying"}),
        ({"content_key": DATA_KEY}, {"notifying", "accepted"}),
        ({"learner_email": "WAITING@acme.EXAMPLE"}, {"waiting"}),
        ({"search": "data sci"}, {"notifying", "accepted"}),
        ({"search": "ACME.example", "state": "errored"}, {"errored"}),
        ({"search": "nobody-at-all"}, set()),
    ],
)
def test_filters_and_search(admin_api, configuration, world, query, expected):
    response = admin_api.get(admin_url(configuration), query)

    assert response.status_code == 200, response.content
    assert uuids_of(response.json()) == uuids(*(world[name] for name in expected))


def test_filter_by_lms_user_id(admin_api, configuration, world):
    body = admin_api.get(admin_url(configuration) + f"?lms_user_id={world['waiting'].user_id}").json()

    assert uuids_of(body) == uuids(world["waiting"])


def test_counts_follow_the_filters(admin_api, configuration, world):
    body = admin_api.get(admin_url(configuration), {"content_key": PYTHON_KEY}).json()

    counts = {item["learner_state"]: item["count"] for item in body["learner_state_counts"] if item["learner_state"]}
    assert counts == {"waiting": 1, "failed": 2, "expired": 1}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("state=lost", "state"),
        ("state__in=allocated,lost", "state__in"),
        ("learner_state=sleeping", "learner_state"),
        ("learner_state__in=waiting,sleeping", "learner_state__in"),
        ("lms_user_id=abc", "lms_user_id"),
        ("ordering=learner_email", "ordering"),
        ("ordering=-recent_action_time,created", "ordering"),
        ("page_size=501", "page_size"),
        ("page_size=0", "page_size"),
        ("page_size=ten", "page_size"),
    ],
)
def test_bad_queries_are_400(admin_api, configuration, world, query, field):
    response = admin_api.get(admin_url(configuration) + "?" + query)

    assert response.status_code == 400, response.content
    assert field in response.json()


def test_ordering(admin_api, configuration, world):
    LearnerContentAssignment.objects.filter(pk=world["accepted"].pk).update(content_quantity=-100)
    LearnerContentAssignment.objects.filter(pk=world["failed"].pk).update(content_quantity=-9000)

    by_price = admin_api.get(admin_url(configuration) + "?ordering=content_quantity").json()["results"]
    assert by_price[0]["uuid"] == str(world["failed"].uuid)
    assert by_price[-1]["uuid"] == str(world["accepted"].uuid)

    by_state = admin_api.get(admin_url(configuration) + "?ordering=learner_state_sort_order").json()["results"]
    orders = [item["learner_state_sort_order"] for item in by_state]
    assert orders == sorted(orders)
    assert by_state[0]["learner_state"] == "notifying"
    assert by_state[-1]["learner_state"] is None

    descending = admin_api.get(admin_url(configuration) + "?ordering=-learner_state_sort_order").json()["results"]
    assert [item["learner_state_sort_order"] for item in descending] == sorted(orders, reverse=True)


def test_default_order_is_most_recent_action_first(admin_api, configuration, world):
    now = timezone.now()
    LearnerContentAssignment.objects.filter(pk=world["notifying"].pk).update(allocated_at=now - timedelta(days=9))
    add_action(world["notifying"], ActionType.REMINDED)  # reminded now: the most recent action of all

    results = admin_api.get(admin_url(configuration)).json()["results"]

    assert results[0]["uuid"] == str(world["notifying"].uuid)
    assert results[0]["recent_action"]["action_type"] == "reminded"
    times = [item["recent_action"]["timestamp"] for item in results]
    assert times == sorted(times, reverse=True)


def test_pages(admin_api, configuration, world):
    first = admin_api.get(admin_url(configuration) + "?page_size=3").json()
    assert (first["count"], first["num_pages"], first["current_page"], len(first["results"])) == (7, 3, 1, 3)
    assert first["previous"] is None and "page=2" in first["next"]
    last = admin_api.get(admin_url(configuration) + "?page_size=3&page=3").json()
    assert (last["current_page"], len(last["results"]), last["next"]) == (3, 1, None)
    middle = admin_api.get(admin_url(configuration) + "?page_size=3&page=2").json()
    seen = uuids_of(first) | uuids_of(middle) | uuids_of(last)
    assert seen == uuids(*world.values())
    assert admin_api.get(admin_url(configuration) + "?page=9").status_code == 404
    assert len(admin_api.get(admin_url(configuration) + "?page_size=500").json()["results"]) == 7


def test_default_page_size_is_100(admin_api, configuration):
    LearnerContentAssignment.objects.bulk_create(
        LearnerContentAssignment(
            configuration=configuration,
            learner_email=f"learner{n}@acme.example",
            learner_email_normalized=f"learner{n}@acme.example",
            content_key=PYTHON_KEY,
            content_quantity=-PRICE,
            allocated_at=timezone.now(),
        )
        for n in range(101)
    )

    body = admin_api.get(admin_url(configuration)).json()

    assert (body["count"], body["num_pages"], len(body["results"])) == (101, 2, 100)


def _list_statements(admin_api, configuration) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = admin_api.get(admin_url(configuration) + "?ordering=learner_state_sort_order&page_size=500")
    assert response.status_code == 200
    return len(queries)


def test_statements_do_not_grow_with_rows(admin_api, configuration):
    def add(count: int, start: int) -> None:
        for n in range(start, start + count):
            row = make_assignment(
                configuration,
                f"person{n}@acme.example",
                content_key=DATA_KEY if n % 2 else PYTHON_KEY,
                state=AssignmentState.EXPIRED if n % 5 == 0 else AssignmentState.ALLOCATED,
            )
            add_action(row, ActionType.NOTIFIED, error=ActionError.EMAIL_ERROR if n % 3 == 0 else None)
            add_action(row, ActionType.REMINDED)

    add(3, 0)
    few = _list_statements(admin_api, configuration)
    add(40, 3)
    many = _list_statements(admin_api, configuration)

    assert many == few
    assert few <= 12


def test_detail(admin_api, configuration, world):
    response = admin_api.get(admin_url(configuration, f"{world['failed'].uuid}/"))

    assert response.status_code == 200
    body = response.json()
    assert body["uuid"] == str(world["failed"].uuid)
    assert body["learner_state"] == "failed"
    assert body["error_reason"]["error_reason"] == "email_error"


def test_detail_of_a_missing_or_malformed_assignment_is_404(admin_api, configuration, world, globex_assigned):
    other = make_assignment(globex_assigned.assignment_configuration, "g@globex.example")
    for suffix in (f"{uuid.uuid4()}/", "not-a-uuid/", f"{other.uuid}/"):
        assert admin_api.get(admin_url(configuration, suffix)).status_code == 404


def test_unknown_or_malformed_configuration_is_404(admin_api):
    for raw in (uuid.uuid4(), "nope"):
        response = admin_api.get(f"/api/v1/assignment-configurations/{raw}/admin/assignments/")
        assert response.status_code == 404


def test_operators_may_list(operator_api, configuration, world):
    assert operator_api.get(admin_url(configuration)).json()["count"] == 7


def test_inactive_configuration_is_404(admin_api, configuration, world):
    type(configuration).objects.filter(pk=configuration.pk).update(active=False)

    assert admin_api.get(admin_url(configuration)).status_code == 404


# --- cancel and remind ---------------------------------------------------------------------------------


def test_cancel(admin_api, configuration, world, django_capture_on_commit_callbacks):
    targets = [world["notifying"], world["errored"], world["cancelled"]]
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(
            admin_url(configuration, "cancel/"), {"assignment_uuids": [str(t.uuid) for t in targets]}, format="json"
        )

    assert response.status_code == 200, response.content
    assert set(response.json()["cancelled"]) == uuids(*targets)
    after = states(configuration)
    assert {after[t.uuid] for t in targets} == {"cancelled"}
    assert after[world["waiting"].uuid] == "allocated"
    assert LearnerContentAssignment.objects.get(pk=world["notifying"].pk).cancelled_at is not None
    assert {message.to[0] for message in mail.outbox} >= {"notifying@acme.example", "errored@acme.example"}


def test_cancel_is_all_or_nothing(admin_api, configuration, world, django_capture_on_commit_callbacks):
    before, actions = states(configuration), action_count()
    missing = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(
            admin_url(configuration, "cancel/"),
            {"assignment_uuids": [str(world["waiting"].uuid), str(world["accepted"].uuid), str(missing)]},
            format="json",
        )

    assert response.status_code == 422, response.content
    refused = {item["uuid"]: item["reason"] for item in response.json()["non_cancelable"]}
    assert set(refused) == {str(world["accepted"].uuid), str(missing)}
    assert refused[str(missing)] != ""
    assert states(configuration) == before
    assert action_count() == actions
    assert mail.outbox == []


def test_remind(admin_api, configuration, world, django_capture_on_commit_callbacks):
    targets = [world["waiting"], world["failed"]]
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(
            admin_url(configuration, "remind/"), {"assignment_uuids": [str(t.uuid) for t in targets]}, format="json"
        )

    assert response.status_code == 200, response.content
    assert set(response.json()["reminded"]) == uuids(*targets)
    reminded = LearnerContentAssignmentAction.objects.filter(action_type=ActionType.REMINDED)
    assert set(reminded.values_list("assignment_id", flat=True)) == {t.pk for t in targets}
    assert len(mail.outbox) == 2


def test_remind_of_a_non_remindable_assignment_is_422(
    admin_api, configuration, world, django_capture_on_commit_callbacks
):
    """The upstream bug: remind checked a key that never existed, so it never answered 422."""
    actions = action_count()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(
            admin_url(configuration, "remind/"),
            {"assignment_uuids": [str(world["waiting"].uuid), str(world["cancelled"].uuid)]},
            format="json",
        )

    assert response.status_code == 422, response.content
    assert [item["uuid"] for item in response.json()["non_remindable"]] == [str(world["cancelled"].uuid)]
    assert action_count() == actions
    assert mail.outbox == []


@pytest.mark.parametrize("action", ["cancel/", "remind/", "nudge/"])
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"assignment_uuids": []},
        {"assignment_uuids": "not a list"},
        {"assignment_uuids": ["not-a-uuid"]},
        {"assignment_uuids": [1, 2]},
        ["a", "list"],
    ],
)
def test_malformed_bodies_are_400(admin_api, configuration, action, body):
    response = admin_api.post(admin_url(configuration, action), body, format="json")

    assert response.status_code == 400, response.content


def test_too_many_uuids_is_413(admin_api, configuration, settings):
    settings.BULK_MAX_ITEMS = 3
    body = {"assignment_uuids": [str(uuid.uuid4()) for _ in range(4)], "days_before_course_start_date": 3}
    for action in ("cancel/", "remind/", "nudge/"):
        assert admin_api.post(admin_url(configuration, action), body, format="json").status_code == 413


# --- cancel-all and remind-all -------------------------------------------------------------------------


def test_cancel_all_takes_the_filters(admin_api, configuration, world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(admin_url(configuration, "cancel-all/?" + urlencode({"content_key": PYTHON_KEY})))

    assert response.status_code == 202, response.content
    assert response.json() == {"count": 3}  # waiting, failed, errored (the Python ones that can be cancelled)
    after = states(configuration)
    assert {name for name, row in world.items() if after[row.uuid] == "cancelled"} == {
        "waiting",
        "failed",
        "errored",
        "cancelled",
    }
    assert after[world["notifying"].uuid] == "allocated"


def test_cancel_all_with_nothing_to_cancel_is_404(admin_api, configuration, world):
    before = states(configuration)

    response = admin_api.post(admin_url(configuration, "cancel-all/?state=accepted"))

    assert response.status_code == 404
    assert states(configuration) == before


def test_remind_all(admin_api, configuration, world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(admin_url(configuration, "remind-all/?learner_state=failed"))

    assert response.status_code == 202, response.content
    assert response.json() == {"count": 1}  # the failed notification; the errored one cannot be reminded
    assert [message.to[0] for message in mail.outbox] == ["failed@acme.example"]


def test_remind_all_with_nobody_to_remind_is_404(admin_api, configuration, world):
    assert admin_api.post(admin_url(configuration, "remind-all/?state=cancelled")).status_code == 404
    assert admin_api.post(admin_url(configuration, "remind-all/?state=bogus")).status_code == 400


# --- nudge ---------------------------------------------------------------------------------------------


@pytest.fixture
def soon_run(make_run):
    """A run starting in exactly 5 days (enrollment open now)."""
    start = timezone.now() + timedelta(days=5)
    return make_run("course-v1:EntU+Soon+2030", start=start, end=start + timedelta(days=90))


def test_nudge(admin_api, configuration, world, soon_run, django_capture_on_commit_callbacks):
    soon = make_assignment(
        configuration,
        "soon@acme.example",
        content_key=str(soon_run.course_key),
        state=AssignmentState.ACCEPTED,
        preferred_course_run_key=str(soon_run.course_key),
    )
    asked = [str(soon.uuid), str(world["accepted"].uuid), str(world["waiting"].uuid)]
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(
            admin_url(configuration, "nudge/"),
            {"assignment_uuids": asked, "days_before_course_start_date": 5},
            format="json",
        )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["nudged_assignment_uuids"] == [str(soon.uuid)]
    assert set(body["unnudged_assignment_uuids"]) == {str(world["accepted"].uuid), str(world["waiting"].uuid)}
    assert [message.to[0] for message in mail.outbox] == ["soon@acme.example"]


def test_nudge_of_foreign_assignments_is_422(admin_api, configuration, globex_assigned):
    other = make_assignment(globex_assigned.assignment_configuration, "g@globex.example")

    response = admin_api.post(
        admin_url(configuration, "nudge/"),
        {"assignment_uuids": [str(other.uuid), str(uuid.uuid4())], "days_before_course_start_date": 5},
        format="json",
    )

    assert response.status_code == 422
    assert "error_message" in response.json()


@pytest.mark.parametrize("days", [0, -1, "soon", None, 100000])
def test_nudge_needs_a_positive_day_count(admin_api, configuration, world, days):
    response = admin_api.post(
        admin_url(configuration, "nudge/"),
        {"assignment_uuids": [str(world["accepted"].uuid)], "days_before_course_start_date": days},
        format="json",
    )

    assert response.status_code == 400
    assert "days_before_course_start_date" in response.json()


# --- tenant isolation ----------------------------------------------------------------------------------


@pytest.fixture
def globex_assigned(globex_catalog):
    return make_budget(globex_catalog.customer, globex_catalog, spend_limit_cents=20_000, access_method="assigned")


READS = ["", "{waiting}/"]
WRITES = ["cancel/", "remind/", "cancel-all/", "remind-all/", "nudge/"]


@pytest.mark.parametrize("who", ["globex_admin", "globex_learner", "acme_learner", "learner"])
def test_other_tenants_and_learners_can_neither_read_nor_change(
    request, client_for, configuration, world, who, django_capture_on_commit_callbacks
):
    caller = client_for(request.getfixturevalue(who))
    expected = {403} if who == "acme_learner" else {404}
    before, actions = states(configuration), action_count()
    all_uuids = [str(row.uuid) for row in world.values()]

    for suffix in READS:
        response = caller.get(admin_url(configuration, suffix.format(waiting=world["waiting"].uuid)))
        assert response.status_code in expected, (who, suffix, response.status_code)
    with django_capture_on_commit_callbacks(execute=True):
        for suffix in WRITES:
            response = caller.post(
                admin_url(configuration, suffix),
                {"assignment_uuids": all_uuids, "days_before_course_start_date": 5},
                format="json",
            )
            assert response.status_code in expected, (who, suffix, response.status_code)

    assert states(configuration) == before
    assert action_count() == actions
    assert mail.outbox == []
