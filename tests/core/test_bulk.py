"""rollbook.core.bulk: set-based inserts and updates with history rows, compared with simple-history's own."""

from __future__ import annotations

import datetime
import gc
import threading
import uuid
from collections.abc import Callable
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, NotSupportedError, connection, transaction
from django.test import RequestFactory
from simple_history.exceptions import NotHistoricalModelError
from simple_history.models import HistoricalRecords
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from rollbook.core import bulk
from rollbook.core.bulk import insert_with_history, paused_gc, update_with_history
from rollbook.core.models import RoleAssignment
from rollbook.identity.models import ApiClient, IdentityProvider, SsoLink

User = get_user_model()

FIXED_NOW = datetime.datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.UTC)
HISTORY_DATE = datetime.datetime(2031, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)


# --- helpers -------------------------------------------------------------------------------------


class _Rollback(Exception):
    pass


def stored_rows(model) -> dict[str, list[dict]]:
    """Every row of the model's table and of its history table as the database stores them.

    Keys are replaced by their rank (in key order) and history ids dropped, so that two runs that
    got different keys from a sequence compare equal when they wrote the same things.
    """
    history_model = model.history.model
    quote = connection.ops.quote_name
    pk_column = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {quote(model._meta.db_table)} ORDER BY {quote(pk_column)}")
        live_columns = [column[0] for column in cursor.description]
        live = [dict(zip(live_columns, row, strict=True)) for row in cursor.fetchall()]
        cursor.execute(f"SELECT * FROM {quote(history_model._meta.db_table)} ORDER BY {quote('history_id')}")
        history_columns = [column[0] for column in cursor.description]
        history = [dict(zip(history_columns, row, strict=True)) for row in cursor.fetchall()]
    rank = {row[pk_column]: position for position, row in enumerate(live)}
    for row in live:
        row[pk_column] = rank[row[pk_column]]
    for row in history:
        row.pop("history_id")
        row[pk_column] = rank.get(row[pk_column], f"gone:{row[pk_column]}")
    return {"live": live, "history": history}


def written_by(write: Callable[[], object], model) -> dict[str, list[dict]]:
    """What ``write()`` leaves in the model's tables, then undone (a savepoint rolled back)."""
    try:
        with transaction.atomic():
            write()
            rows = stored_rows(model)
            raise _Rollback
    except _Rollback:
        pass
    return rows


@pytest.fixture
def fixed_now():
    """``timezone.now()`` returns FIXED_NOW, for simple-history, Django's auto_now and the helpers alike."""
    with mock.patch("django.utils.timezone.now", return_value=FIXED_NOW):
        yield FIXED_NOW


@pytest.fixture
def request_user():
    """Pretend simple-history's HistoryRequestMiddleware is handling a request by the given user."""

    def _set(user) -> None:
        request = RequestFactory().get("/")
        request.user = user
        HistoricalRecords.context.request = request

    yield _set
    if hasattr(HistoricalRecords.context, "request"):
        del HistoricalRecords.context.request


def user_rows(count: int, start: int = 0) -> list[dict]:
    """User rows giving some fields and leaving the rest to their defaults; some with a last login."""
    rows = []
    for number in range(start, start + count):
        email = f"Bulk{number}@Example.com"
        rows.append(
            {
                "uuid": uuid.UUID(int=number + 1),
                "username": f"bulk{number}",
                "email": email,
                "email_normalized": email.casefold(),
                "password": "!",
                "date_joined": FIXED_NOW - datetime.timedelta(days=number),
                "last_login": None if number % 2 else FIXED_NOW,
                "is_staff": number % 3 == 0,
            }
        )
    return rows


def provider_rows(count: int) -> list[dict]:
    return [{"slug": f"idp-{number}", "name": f"Provider {number}"} for number in range(count)]


# --- insert_with_history: the same database state as bulk_create_with_history ---------------------


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 7])
def test_inserting_users_writes_what_bulk_create_with_history_writes(fixed_now, make_user, count):
    actor = make_user("actor")
    rows = user_rows(count)

    expected = written_by(
        lambda: bulk_create_with_history(
            [User(**row) for row in rows], User, default_user=actor, default_date=HISTORY_DATE
        ),
        User,
    )
    actual = written_by(
        lambda: insert_with_history(User, rows, history_user=actor, history_date=HISTORY_DATE, batch_size=3), User
    )

    assert len(expected["live"]) == count + 1 and len(expected["history"]) == count + 1  # with the actor
    assert actual == expected


@pytest.mark.django_db
def test_inserting_rows_with_foreign_keys_and_auto_timestamps_matches_too(fixed_now, make_user):
    users = [make_user() for _ in range(4)]
    provider = IdentityProvider.objects.create(slug="campus", name="Campus")
    link_rows = [
        {"provider": provider, "user": user, "external_user_key": f"Key{n}", "external_user_key_normalized": f"key{n}"}
        for n, user in enumerate(users)
    ]
    client_rows = [
        {"client_id": f"client-{n}", "secret_hash": "!", "name": f"Client {n}", "user_id": user.pk}
        for n, user in enumerate(users)
    ]

    for model, rows, instances in [
        (SsoLink, link_rows, lambda: [SsoLink(**row) for row in link_rows]),
        # the history table keeps ApiClient's one-to-one user as a plain foreign key, and no secret_hash
        (ApiClient, client_rows, lambda: [ApiClient(**row) for row in client_rows]),
    ]:
        expected = written_by(lambda: bulk_create_with_history(instances(), model), model)  # noqa: B023
        actual = written_by(lambda: insert_with_history(model, rows), model)  # noqa: B023
        assert len(expected["live"]) == len(expected["history"]) == 4
        assert actual == expected, model.__name__


@pytest.mark.django_db
def test_history_user_is_the_request_user_when_none_is_given(fixed_now, make_user, request_user):
    actor, other = make_user("actor"), make_user("other")
    request_user(actor)
    rows = provider_rows(3)

    expected = written_by(
        lambda: bulk_create_with_history([IdentityProvider(**r) for r in rows], IdentityProvider), IdentityProvider
    )
    actual = written_by(lambda: insert_with_history(IdentityProvider, rows), IdentityProvider)
    explicit = written_by(lambda: insert_with_history(IdentityProvider, rows, history_user=other), IdentityProvider)

    assert actual == expected
    assert {row["history_user_id"] for row in actual["history"]} == {actor.pk}
    assert {row["history_user_id"] for row in explicit["history"]} == {other.pk}


@pytest.mark.django_db
def test_an_anonymous_request_records_no_history_user(request_user):
    request_user(AnonymousUser())
    insert_with_history(IdentityProvider, provider_rows(2))
    assert list(IdentityProvider.history.values_list("history_user_id", flat=True)) == [None, None]


@pytest.mark.django_db
def test_history_rows_copy_the_rows_and_their_new_keys(make_user):
    actor = make_user("actor")
    keys = insert_with_history(IdentityProvider, provider_rows(5), history_user=actor, history_date=HISTORY_DATE)

    providers = IdentityProvider.objects.in_bulk(keys)
    assert [providers[key].slug for key in keys] == [f"idp-{n}" for n in range(5)]  # keys in row order
    history = {h.id: h for h in IdentityProvider.history.all()}
    assert set(history) == set(keys)
    for key in keys:
        record, provider = history[key], providers[key]
        assert (record.history_type, record.history_change_reason) == ("+", None)
        assert (record.history_date, record.history_user_id) == (HISTORY_DATE, actor.pk)
        assert (record.slug, record.name, record.enabled) == (provider.slug, provider.name, True)
        assert record.created == record.modified == provider.created == provider.modified


@pytest.mark.django_db
def test_keys_and_history_rows_line_up_with_many_rows():
    keys = insert_with_history(IdentityProvider, provider_rows(2500), batch_size=1000)

    slug_by_key = dict(IdentityProvider.objects.values_list("pk", "slug"))
    assert [slug_by_key[key] for key in keys] == [f"idp-{n}" for n in range(2500)]
    assert dict(IdentityProvider.history.values_list("id", "slug")) == slug_by_key


@pytest.mark.django_db
def test_missing_fields_get_defaults_and_given_timestamps_are_kept(fixed_now):
    earlier = FIXED_NOW - datetime.timedelta(days=3)
    keys = insert_with_history(
        User, [{"username": "a", "email_normalized": "a"}, {"username": "b", "email_normalized": "b"}]
    )
    [first, second] = User.objects.filter(pk__in=keys).order_by("username")
    assert first.uuid != second.uuid  # a callable default is called once per row
    assert (first.is_active, first.is_staff, first.first_name, first.last_login) == (True, False, "", None)
    assert IdentityProvider.history.count() == 0

    [key] = insert_with_history(IdentityProvider, [{"slug": "x", "name": "X", "created": earlier}])
    provider = IdentityProvider.objects.get(pk=key)
    assert (provider.created, provider.modified) == (earlier, FIXED_NOW)


@pytest.mark.django_db
def test_foreign_keys_may_be_given_as_instances_or_keys(make_user):
    user = make_user()
    insert_with_history(RoleAssignment, [{"user": user, "role": "operator", "scope_kind": "global", "scope_key": "*"}])
    insert_with_history(
        RoleAssignment, [{"user_id": user.pk, "role": "learner", "scope_kind": "self", "scope_key": "*"}]
    )
    assert set(RoleAssignment.objects.filter(user=user).values_list("role", flat=True)) == {"operator", "learner"}
    assert RoleAssignment.history.filter(user_id=user.pk, history_type="+").count() == 2


# --- insert_with_history: statements ---------------------------------------------------------------


@pytest.mark.django_db
def test_two_statements_per_batch(django_assert_num_queries):
    connection.ensure_connection()
    with django_assert_num_queries(2 * 3):  # rows and history rows, for batches of 4, 4 and 2
        keys = insert_with_history(IdentityProvider, provider_rows(10), batch_size=4)
    assert len(keys) == len(set(keys)) == 10
    assert IdentityProvider.history.count() == 10


@pytest.mark.django_db
def test_the_batch_size_defaults_to_the_setting(settings, django_assert_num_queries):
    settings.BULK_BATCH_SIZE = 5
    connection.ensure_connection()
    with django_assert_num_queries(2 * 2):
        insert_with_history(IdentityProvider, provider_rows(10))


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "sqlite", reason="only SQLite limits the parameters of a statement")
def test_sqlite_statements_are_split_at_the_parameter_limit(monkeypatch):
    monkeypatch.setattr(bulk, "_SQLITE_MAX_QUERY_PARAMS", 9)
    with transaction.atomic():
        statements = []
        with connection.execute_wrapper(lambda execute, sql, *args: statements.append(sql) or execute(sql, *args)):
            keys = insert_with_history(IdentityProvider, provider_rows(10), batch_size=100)
    assert len(statements) > 2
    assert [IdentityProvider.objects.get(pk=key).slug for key in keys] == [f"idp-{n}" for n in range(10)]
    assert IdentityProvider.history.count() == 10


@pytest.mark.django_db
def test_without_returning_keys_are_found_by_a_unique_column(monkeypatch, make_user, django_assert_num_queries):
    user = make_user()
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    with django_assert_num_queries(3 * 2):  # rows, the keys by slug, history rows; two batches
        keys = insert_with_history(IdentityProvider, provider_rows(6), batch_size=3)
    assert [IdentityProvider.objects.get(pk=key).slug for key in keys] == [f"idp-{n}" for n in range(6)]
    assert set(IdentityProvider.history.values_list("id", flat=True)) == set(keys)

    role = {"user": user, "role": "operator", "scope_kind": "global", "scope_key": "*"}
    with pytest.raises(NotSupportedError):  # RoleAssignment has no unique column to find its rows by
        insert_with_history(RoleAssignment, [role])


@pytest.mark.django_db
def test_no_history_rows_when_simple_history_is_disabled(settings):
    settings.SIMPLE_HISTORY_ENABLED = False
    keys = insert_with_history(IdentityProvider, provider_rows(3))
    assert IdentityProvider.objects.count() == len(keys) == 3
    assert IdentityProvider.history.count() == 0


# --- insert_with_history: bad input ------------------------------------------------------------------


@pytest.mark.django_db
def test_nothing_to_insert_sends_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert insert_with_history(IdentityProvider, []) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "row",
    [
        {"slug": "a", "name": "A", "colour": "red"},  # no such field
        {"slug": "a", "name": "A", "id": 5},  # the database assigns it
        {"slug": "a", "name": "A", "organization": 3},  # an instance is expected by field name
        {"slug": "a", "name": "A", "organization": IdentityProvider(slug="unsaved")},  # not a saved instance
    ],
)
def test_bad_rows_are_refused_before_anything_is_written(row, django_assert_num_queries):
    with django_assert_num_queries(0), pytest.raises(ValueError):
        insert_with_history(IdentityProvider, [row])


@pytest.mark.django_db
def test_models_without_history_are_refused():
    with pytest.raises(NotHistoricalModelError):
        insert_with_history(ContentType, [{"app_label": "x", "model": "y"}])
    assert not ContentType.objects.filter(app_label="x").exists()


@pytest.mark.django_db
def test_a_field_given_by_name_and_attname_is_refused(make_user):
    user = make_user()
    rows = [
        {"user": user, "role": "operator", "scope_kind": "global", "scope_key": "*"},
        {"user_id": user.pk, "role": "learner", "scope_kind": "self", "scope_key": "*"},
    ]
    with pytest.raises(ValueError, match="both"):
        insert_with_history(RoleAssignment, rows)


@pytest.mark.django_db
def test_a_constraint_violation_leaves_nothing_written():
    rows = [*provider_rows(3), {"slug": "idp-1", "name": "Again"}]
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_with_history(IdentityProvider, rows, batch_size=2)
    assert not IdentityProvider.objects.exists()
    assert not IdentityProvider.history.exists()


# --- update_with_history ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_updating_writes_what_bulk_update_with_history_writes(fixed_now, make_user, request_user):
    actor, other = make_user("actor"), make_user("other")
    request_user(actor)
    insert_with_history(User, user_rows(7))
    users = list(User.objects.filter(username__startswith="bulk").order_by("pk"))
    for number, user in enumerate(users):
        user.first_name = f"First{number % 3}"  # varies
        user.is_staff = True  # one value for all
        user.last_login = None if number % 2 else FIXED_NOW - datetime.timedelta(hours=number)  # varies, with NULLs
    users[1]._history_user = other
    users[2]._change_reason = "renamed"
    users[3]._history_date = HISTORY_DATE - datetime.timedelta(days=1)
    fields = ["first_name", "is_staff", "last_login"]

    expected = written_by(
        lambda: bulk_update_with_history(users, User, fields, default_date=HISTORY_DATE, batch_size=3), User
    )
    actual = written_by(lambda: update_with_history(users, fields, history_date=HISTORY_DATE, batch_size=3), User)

    assert [row["first_name"] for row in expected["live"][-7:]] == [f"First{n % 3}" for n in range(7)]
    assert len(expected["history"]) == 2 * 7 + 2  # creations, then changes (and the two request users)
    assert actual == expected


@pytest.mark.django_db
def test_one_update_and_one_history_insert_per_batch(django_assert_num_queries):
    keys = insert_with_history(IdentityProvider, provider_rows(10))
    providers = list(IdentityProvider.objects.filter(pk__in=keys).order_by("pk"))
    for number, provider in enumerate(providers):
        provider.name = f"Renamed {number}"
        provider.enabled = False
    connection.ensure_connection()

    with django_assert_num_queries(2 * 2):
        updated = update_with_history(providers, ["name", "enabled"], batch_size=5)

    assert updated == 10
    assert sorted(IdentityProvider.objects.values_list("name", "enabled")) == sorted(
        (f"Renamed {number}", False) for number in range(10)
    )
    changes = IdentityProvider.history.filter(history_type="~")
    assert sorted(changes.values_list("id", "name")) == sorted((p.pk, p.name) for p in providers)


@pytest.mark.django_db
def test_update_input_is_checked(make_user, django_assert_num_queries):
    user = make_user()
    [key] = insert_with_history(IdentityProvider, provider_rows(1))
    provider = IdentityProvider.objects.get(pk=key)
    with django_assert_num_queries(0):
        assert update_with_history([], ["name"]) == 0
        for objects, fields in [
            ([provider, user], ["name"]),  # two models
            ([IdentityProvider(slug="new", name="New")], ["name"]),  # unsaved
            ([provider], ["id"]),  # the key
            ([provider], ["colour"]),  # no such field
            ([provider], []),  # nothing to update
        ]:
            with pytest.raises(ValueError):
                update_with_history(objects, fields)


# --- paused_gc -------------------------------------------------------------------------------------


def test_paused_gc_pauses_and_resumes_the_collector():
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()


def test_paused_gc_leaves_a_disabled_collector_disabled():
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_paused_gc_resumes_when_the_last_of_several_threads_is_done():
    entered, release = threading.Event(), threading.Event()

    def hold_a_pause():
        with paused_gc():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=hold_a_pause)
    thread.start()
    try:
        assert entered.wait(10)
        with paused_gc():
            pass
        assert not gc.isenabled()  # the other thread's pause is still on
    finally:
        release.set()
        thread.join(10)
    assert gc.isenabled()


def test_paused_gc_resumes_after_an_error():
    with pytest.raises(RuntimeError), paused_gc():
        raise RuntimeError("boom")
    assert gc.isenabled()


# --- delete_with_history and delete_rows -------------------------------------------------------------


@pytest.mark.django_db
def test_deleting_writes_what_deleting_one_by_one_writes(fixed_now, make_user, request_user):
    request_user(make_user("actor"))
    keys = insert_with_history(IdentityProvider, provider_rows(5))

    def doomed() -> list:
        providers = list(IdentityProvider.objects.filter(pk__in=keys[:4]).order_by("pk"))
        providers[1]._change_reason = "retired"
        return providers

    def one_by_one():
        for provider in doomed():
            provider.delete()

    expected = written_by(one_by_one, IdentityProvider)
    actual = written_by(lambda: bulk.delete_with_history(doomed(), batch_size=3), IdentityProvider)

    assert len(expected["live"]) == 1
    assert [row["history_type"] for row in expected["history"]].count("-") == 4
    assert actual == expected


@pytest.mark.django_db
def test_deleting_takes_two_statements_per_batch(django_assert_num_queries):
    keys = insert_with_history(IdentityProvider, provider_rows(6))
    providers = list(IdentityProvider.objects.filter(pk__in=keys))
    with django_assert_num_queries(2 * 2):  # per batch of three: one history INSERT and one DELETE
        assert bulk.delete_with_history(providers, batch_size=3) == 6
    assert not IdentityProvider.objects.filter(pk__in=keys).exists()


@pytest.mark.django_db
def test_delete_rows_writes_no_history(django_assert_num_queries):
    keys = insert_with_history(IdentityProvider, provider_rows(4))
    history_before = IdentityProvider.history.count()
    with django_assert_num_queries(1):
        assert bulk.delete_rows(IdentityProvider.objects.filter(pk__in=keys)) == 4
    assert IdentityProvider.history.count() == history_before
