"""rollbook.core.bulk with awkward values: text that array literals must quote or escape, NULLs, booleans,
date-times in other time zones, keys past 32 bits. insert_with_history and update_with_history must store
exactly what simple-history's own bulk helpers store (on PostgreSQL the columns travel as array literals)."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.contrib.auth import get_user_model
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from rollbook.core import bulk
from rollbook.core.bulk import insert_with_history, update_with_history
from rollbook.identity.models import IdentityProvider, SsoLink
from tests.core.test_bulk import FIXED_NOW, HISTORY_DATE, fixed_now, written_by  # noqa: F401  (fixture)

User = get_user_model()

AWKWARD_TEXT = [
    "",
    "NULL",
    "null",
    'say "hi"',
    "back\\slash",
    "\\",
    '"',
    "{braces}",
    "a,b",
    " padded ",
    "tab\there",
    "line\nbreak",
    "quote ' single",
    "É😀 ünïcode",
    "$1 %s %(name)s",
]
ELSEWHERE = datetime.timezone(datetime.timedelta(hours=-7, minutes=-30))


def awkward_rows() -> list[dict]:
    rows = []
    for number, text in enumerate(AWKWARD_TEXT):
        rows.append(
            {
                "uuid": uuid.uuid4(),
                "username": f"awkward{number}",
                "email": f"awkward{number}@example.com",
                "email_normalized": f"awkward{number}@example.com",
                "password": "!",
                "first_name": text,
                "last_name": text[::-1],
                "date_joined": datetime.datetime(2030, 1, 1, 12, 0, number, 999, tzinfo=ELSEWHERE),
                "last_login": None if number % 3 == 0 else FIXED_NOW - datetime.timedelta(microseconds=number),
                "is_staff": number % 2 == 0,
            }
        )
    return rows


@pytest.mark.django_db
def test_inserting_awkward_values_writes_what_bulk_create_with_history_writes(fixed_now):  # noqa: F811
    rows = awkward_rows()

    expected = written_by(
        lambda: bulk_create_with_history([User(**row) for row in rows], User, default_date=HISTORY_DATE), User
    )
    actual = written_by(lambda: insert_with_history(User, rows, history_date=HISTORY_DATE, batch_size=4), User)

    assert [row["first_name"] for row in actual["live"]] == AWKWARD_TEXT
    assert actual == expected


@pytest.mark.django_db
def test_updating_to_awkward_values_writes_what_bulk_update_with_history_writes(fixed_now):  # noqa: F811
    insert_with_history(User, [{**row, "first_name": "plain"} for row in awkward_rows()])
    users = list(User.objects.filter(username__startswith="awkward").order_by("pk"))
    for user, text in zip(users, reversed(AWKWARD_TEXT), strict=True):
        user.first_name = text
        user.is_active = len(text) % 2 == 0
        user.last_login = None if user.is_active else datetime.datetime(2029, 2, 3, 4, 5, 6, tzinfo=ELSEWHERE)
    fields = ["first_name", "is_active", "last_login"]

    expected = written_by(lambda: bulk_update_with_history(users, User, fields, default_date=HISTORY_DATE), User)
    actual = written_by(lambda: update_with_history(users, fields, history_date=HISTORY_DATE), User)

    assert [row["first_name"] for row in actual["live"]] == list(reversed(AWKWARD_TEXT))
    assert actual == expected


@pytest.mark.django_db
def test_keys_past_32_bits_are_kept(fixed_now, make_user):  # noqa: F811
    small, other = make_user("small"), make_user("other")
    big = User.objects.create(id=2**40 + 7, username="big", email="big@example.com", email_normalized="big@example.com")
    provider = IdentityProvider.objects.create(slug="campus", name="Campus")
    rows = [
        {"provider": provider, "user": user, "external_user_key": f"K{n}", "external_user_key_normalized": f"k{n}"}
        for n, user in enumerate([small, big, other])
    ]

    expected = written_by(lambda: bulk_create_with_history([SsoLink(**row) for row in rows], SsoLink), SsoLink)
    actual = written_by(lambda: insert_with_history(SsoLink, rows), SsoLink)

    assert [row["user_id"] for row in actual["live"]] == [small.pk, big.pk, other.pk]
    assert actual == expected


def test_array_literals_quote_what_postgresql_would_misread():
    assert bulk._pg_array([3, 2**62, -1]) == "{3,4611686018427387904,-1}"
    assert bulk._pg_array(["a", 'b"c', "d\\e", None, ""]) == '{"a","b\\"c","d\\\\e",NULL,""}'
    assert bulk._pg_array([True, False, None]) == "{t,f,NULL}"
    moment = datetime.datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=datetime.UTC)
    assert bulk._pg_array([moment, None]) == '{"2030-01-02T03:04:05.000006+00:00",NULL}'
    key = uuid.UUID(int=5)
    assert bulk._pg_array([key, key]) == f"{{{key.hex},{key.hex}}}"
    assert bulk._pg_array([key, None]) == f"{{{key.hex},NULL}}"
    unknown = [b"bytes", 1.5]
    assert bulk._pg_array(unknown) is unknown  # left to psycopg
