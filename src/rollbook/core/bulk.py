"""Set-based inserts and updates that write django-simple-history rows too, for every app's bulk paths.

``insert_with_history`` and ``update_with_history`` leave the database as simple-history's
``bulk_create_with_history`` and ``bulk_update_with_history`` would, with far less Python work per row:

- values are converted to their database form column by column, with the field's own
  ``get_db_prep_save``, once per distinct value where values repeat (a shared timestamp, a foreign
  key, a mode) and once per row only in unique columns;
- no model instances are built, neither for the rows nor for their history rows;
- each batch is one statement for the rows and one for their history rows (see "SQL" below), split
  further only where SQLite's parameter limit demands it; new keys come back through ``RETURNING``
  (or, on SQLite before 3.35, one SELECT per statement on a unique column).

Values of one type that compare equal are treated as one value (converted once; sent once where a
whole column holds it), which is safe for the values model fields take, with one curiosity: a float
column may store -0.0 as 0.0.

Like Django's ``bulk_create`` and ``bulk_update`` they call no ``save()``, send no model or
simple-history signals and run no model validation; values must be plain Python values (no
expressions such as ``F()``). They write to PostgreSQL and SQLite, the databases Rollbook runs on.
"""

from __future__ import annotations

import datetime
import gc
import operator
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from typing import Any, TypeVar

from django.conf import settings
from django.db import NotSupportedError, connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, ForeignKey, Model, QuerySet
from django.db.models.fields import NOT_PROVIDED, AutoFieldMixin
from django.utils import timezone
from simple_history.utils import get_history_model_for_model

_T = TypeVar("_T")

__all__ = [
    "CHANGED",
    "CREATED",
    "DELETED",
    "batch_size",
    "batches",
    "delete_rows",
    "delete_with_history",
    "insert_with_history",
    "paused_gc",
    "update_with_history",
]

CREATED = "+"  # simple-history's history_type of a created row
CHANGED = "~"  # ... of a changed one
DELETED = "-"  # ... and of a deleted one

# SQLite has allowed 32,766 parameters per statement since 3.32 (999 before). Builds may allow more, but
# longer statements are no faster and approach SQLite's limit on the length of a statement's text.
_SQLITE_MAX_QUERY_PARAMS = 32_766
_SQLITE_OLD_MAX_QUERY_PARAMS = 999

_MISSING = object()


@dataclass(frozen=True, slots=True)
class _Same:
    """A column whose every row holds one value (converted to database form once)."""

    value: Any


Column = list[Any] | _Same


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector in the block; it resumes (if it ran before) when the last pause ends.

    For bulk calls (the two helpers here pause it; ``@paused_gc()`` works as a decorator too): they
    create objects by the hundred thousand (rows, keys, result objects) and keep them until they
    return. Every 700 or so new objects start a collection, and as the kept objects fill the older
    generations those are scanned again and again, for nothing: measured on 50,000 enrollments,
    about a third of ``bulk_enroll``'s time. Reference cycles made in the block are collected once
    the collector resumes. The collector is process-wide, so pauses from several threads are
    counted and it resumes when the last one ends.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


@paused_gc()
def insert_with_history(
    model: type[Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    history_user: Model | None = None,
    history_date: datetime.datetime | None = None,
    batch_size: int | None = None,
) -> list[Any]:
    """Insert one ``model`` row per mapping of ``rows``, each with a "+" history row; return the new keys in order.

    A mapping gives field values by field name or attname (``user=<saved instance>`` or ``user_id=<key>``).
    A field a row leaves out gets what ``Model.save()`` would give it: the call's timestamp for an
    ``auto_now``/``auto_now_add`` field, else the field's default (a callable default is called once per
    row). Unlike ``save()``, a value given for an ``auto_now`` field is kept. The returned keys are those
    the database assigned (for an auto-incremented primary key, which rows may not give) or the rows' own.

    Each history row copies every tracked field and has history_type "+", history_change_reason None,
    ``history_date`` (default: the call's timestamp) and as history user ``history_user``, else the
    authenticated user of the request simple-history's ``HistoryRequestMiddleware`` is handling, else
    None: what ``bulk_create_with_history(objs, model, default_user=..., default_date=...)`` writes.
    No history rows are written when ``settings.SIMPLE_HISTORY_ENABLED`` is false.

    Rows are written in batches of ``batch_size`` (default ``settings.BULK_BATCH_SIZE``), each one
    statement for the rows and one for the history rows unless the database's parameter limit forces
    more; everything happens in one transaction. Raises ValueError for an unknown or ungiveable field
    (auto primary key, generated field) and NotSupportedError for a field this helper cannot write
    (database defaults, custom SQL placeholders); database errors such as constraint violations
    propagate and leave nothing written.
    """
    history_model = get_history_model_for_model(model)  # raises for a model without history
    if not rows:
        return []
    rows_per_batch = _rows_per_batch(batch_size)
    connection = connections[router.db_for_write(model)]
    now = timezone.now()
    count = len(rows)
    fields = _writable_fields(model)
    keys_by_field = _keys_by_field(model, rows)
    python_columns = {field: _python_column(field, keys_by_field.get(field), rows, now) for field in fields}
    db_columns = [_to_db(field, python_columns[field], count, connection) for field in fields]

    auto_pk = model._meta.pk if isinstance(model._meta.pk, AutoFieldMixin) else None
    with transaction.atomic(using=connection.alias, savepoint=False):
        if auto_pk is not None:
            new_keys = _insert_returning_keys(connection, model, fields, db_columns, auto_pk, rows_per_batch)
        else:
            _insert(connection, model, fields, db_columns, rows_per_batch)
            new_keys = _as_list(python_columns[model._meta.pk], count)
        if _history_enabled():
            user = history_user if history_user is not None else _default_history_user(history_model)
            db_ready = {field.attname: column for field, column in zip(fields, db_columns, strict=True)}
            if auto_pk is not None:
                db_ready[auto_pk.attname] = new_keys  # the database sent them, so they are in its form already
            python_values = {field.attname: python_columns[field] for field in fields}
            python_values[model._meta.pk.attname] = new_keys
            _insert_history(
                model,
                history_model,
                count,
                python_values=python_values,
                db_ready=db_ready,
                extras={
                    "history_type": _Same(CREATED),
                    "history_date": _Same(history_date or now),
                    "history_change_reason": _Same(None),
                    "history_user_id": _Same(None if user is None else user.pk),
                    "history_relation_id": new_keys,
                },
                now=now,
                rows_per_batch=rows_per_batch,
            )
    return new_keys


@paused_gc()
def update_with_history(
    objects: Sequence[Model],
    fields: Sequence[str],
    *,
    history_user: Model | None = None,
    history_date: datetime.datetime | None = None,
    batch_size: int | None = None,
) -> int:
    """Write ``fields`` of these saved instances to their rows, each with a "~" history row; return rows updated.

    What ``bulk_update_with_history(objects, model, fields, default_user=..., default_date=...)`` does:
    the values written are the instances' current attribute values (no ``pre_save``: set ``auto_now``
    fields yourself), each history row copies every tracked field from its instance, and an instance's
    ``_history_user``, ``_history_date`` or ``_change_reason`` attribute overrides, for its own history row,
    the history user (default as in ``insert_with_history``), the date (default: the call's timestamp)
    and the change reason (default None).

    In batches of ``batch_size`` (default ``settings.BULK_BATCH_SIZE``): one UPDATE per batch (more
    only where SQLite's parameter limit demands it) and one history INSERT, in one transaction.
    Raises ValueError for mixed models, unsaved instances, or ``fields`` naming the primary key or an
    unknown field; NotSupportedError as ``insert_with_history`` does.
    """
    if not objects:
        return 0
    model = type(objects[0])
    if any(type(obj) is not model for obj in objects):
        raise ValueError("update_with_history takes instances of one model at a time.")
    get_history_model_for_model(model)  # raises for a model without history
    pk_field = model._meta.pk
    updated_fields = _updatable_fields(model, fields)
    pks = [obj.pk for obj in objects]
    if any(pk is None for pk in pks):
        raise ValueError("update_with_history needs saved instances (every primary key set).")
    rows_per_batch = _rows_per_batch(batch_size)
    connection = connections[router.db_for_write(model)]
    now = timezone.now()
    count = len(objects)

    updated = 0
    with transaction.atomic(using=connection.alias, savepoint=False):
        pk_db = _to_db(pk_field, pks, count, connection)
        for start in range(0, count, rows_per_batch):
            stop = min(start + rows_per_batch, count)
            columns = {
                field: _to_db(
                    field, [getattr(obj, field.attname) for obj in objects[start:stop]], stop - start, connection
                )
                for field in updated_fields
            }
            updated += _update(connection, model, pk_db[start:stop], columns)
        _insert_object_history(
            objects,
            CHANGED,
            pk_db,
            history_user=history_user,
            history_date=history_date or now,
            now=now,
            rows_per_batch=rows_per_batch,
        )
    return updated


def delete_with_history(
    objects: Sequence[Model],
    *,
    history_user: Model | None = None,
    history_date: datetime.datetime | None = None,
    batch_size: int | None = None,
) -> int:
    """Delete these saved instances of one model, each leaving a "-" history row; return rows deleted.

    The history rows are what simple-history's delete receiver writes for each object (every tracked field,
    history user and date as in ``update_with_history``), written in bulk; then the rows go with one DELETE
    per batch through ``delete_rows``, so, as there, Django's cascades and delete signals do not run: the
    caller deletes dependent rows first (the database's foreign keys refuse anything left behind).
    """
    if not objects:
        return 0
    model = type(objects[0])
    if any(type(obj) is not model for obj in objects):
        raise ValueError("delete_with_history takes instances of one model at a time.")
    get_history_model_for_model(model)  # raises for a model without history
    pks = [obj.pk for obj in objects]
    if any(pk is None for pk in pks):
        raise ValueError("delete_with_history needs saved instances (every primary key set).")
    rows_per_batch = _rows_per_batch(batch_size)
    connection = connections[router.db_for_write(model)]
    now = timezone.now()
    deleted = 0
    with transaction.atomic(using=connection.alias, savepoint=False):
        pk_db = _to_db(model._meta.pk, pks, len(pks), connection)
        _insert_object_history(
            objects,
            DELETED,
            pk_db,
            history_user=history_user,
            history_date=history_date or now,
            now=now,
            rows_per_batch=rows_per_batch,
        )
        for chunk in batches(pks, rows_per_batch):
            deleted += delete_rows(model._default_manager.filter(pk__in=chunk))
    return deleted


def delete_rows(queryset: QuerySet) -> int:
    """DELETE the rows of ``queryset`` in one statement, without loading them; return how many.

    ``QuerySet.delete()`` loads every row and sends ``pre_delete``/``post_delete`` for each, on which
    simple-history writes a "-" history row per row: a statement per row, and a new copy of data that a
    purge is meant to remove. Here no signal runs, no history row is written and Django does not cascade:
    delete children first (database foreign keys refuse orphans). This uses Django's ``_raw_delete``,
    the private method its own ``Collector`` uses for the same fast path; tests pin its behaviour.
    """
    return queryset._raw_delete(queryset.db)


def _insert_object_history(
    objects: Sequence[Model],
    history_type: str,
    pk_db: list[Any],
    *,
    history_user: Model | None,
    history_date: datetime.datetime,
    now: datetime.datetime,
    rows_per_batch: int,
) -> None:
    """One ``history_type`` history row per saved instance, copying its tracked fields; an instance's own
    ``_history_user``, ``_history_date`` and ``_change_reason`` win over the call's."""
    if not _history_enabled():
        return
    model = type(objects[0])
    history_model = get_history_model_for_model(model)
    default_user = history_user if history_user is not None else _default_history_user(history_model)
    users = _per_object(objects, "_history_user", default_user)
    reasons = _per_object(objects, "_change_reason", None)
    _insert_history(
        model,
        history_model,
        len(objects),
        python_values={
            field.attname: [getattr(obj, field.attname) for obj in objects] for field in history_model.tracked_fields
        },
        db_ready={model._meta.pk.attname: pk_db},
        extras={
            "history_type": _Same(history_type),
            "history_date": _per_object(objects, "_history_date", history_date),
            # simple-history stores an empty change reason as the default (None).
            "history_change_reason": _map(reasons, lambda reason: reason or None),
            "history_user_id": _map(users, lambda user: None if user is None else user.pk),
            "history_relation_id": [obj.pk for obj in objects],
        },
        now=now,
        rows_per_batch=rows_per_batch,
    )


# --- building columns ----------------------------------------------------------------------------


def _writable_fields(model: type[Model]) -> list[Field]:
    """The columns an INSERT names: every concrete field but generated ones and an auto primary key."""
    return [
        field
        for field in model._meta.concrete_fields
        if not field.generated and not (field.primary_key and isinstance(field, AutoFieldMixin))
    ]


def _keys_by_field(model: type[Model], rows: Sequence[Mapping[str, Any]]) -> dict[Field, str]:
    """The key (field name or attname) by which the rows give each field they give; ValueError for bad keys."""
    fields_by_key: dict[str, Field] = {}
    for field in model._meta.concrete_fields:
        fields_by_key[field.name] = field
        fields_by_key[field.attname] = field
    given = set().union(*rows)
    unknown = given - fields_by_key.keys()
    if unknown:
        raise ValueError(f"{model.__name__} has no field {', '.join(sorted(map(str, unknown)))}.")
    keys: dict[Field, str] = {}
    for key in sorted(given):
        field = fields_by_key[key]
        if field in keys:
            raise ValueError(f"Rows give {model.__name__}.{field.name} both as {keys[field]!r} and as {key!r}.")
        if field.generated or (field.primary_key and isinstance(field, AutoFieldMixin)):
            raise ValueError(f"{model.__name__}.{field.name} is set by the database; rows may not give it.")
        keys[field] = key
    return keys


def _python_column(field: Field, key: str | None, rows: Sequence[Mapping[str, Any]], now: datetime.datetime) -> Column:
    """The field's value in each row: the row's own, else the default ``_default_column`` describes."""
    if key is None:
        return _default_column(field, len(rows), now)
    values = [row.get(key, _MISSING) for row in rows]
    if field.is_relation and key == field.name:
        values = [value if value is _MISSING else _related_key(field, value) for value in values]
    # ``in`` tests identity before equality, in C; a value's own __eq__ meets the sentinel only to say "not mine".
    if _MISSING in values:
        defaults = _as_list(_default_column(field, len(rows), now), len(rows))
        values = [default if value is _MISSING else value for value, default in zip(values, defaults, strict=True)]
    # Rows often share one object in a column (the caller's timestamp, a mode): converted once, sent once.
    if values and values[-1] is values[0] and len(set(map(id, values))) == 1:
        return _Same(values[0])
    return values


def _default_column(field: Field, count: int, now: datetime.datetime) -> Column:
    """What ``Model.save()`` stores for a field given no value: auto-now timestamps or the field's default."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return _Same(_auto_now_value(field, now))
    if field.db_default is not NOT_PROVIDED:
        raise NotSupportedError(f"{field} has a database default; give its value in every row.")
    if field.has_default() and callable(field.default):
        return [field.get_default() for _ in range(count)]
    return _Same(field.get_default())


def _auto_now_value(field: Field, now: datetime.datetime) -> Any:
    """The value Django's ``pre_save`` gives an auto-now field, with the call's timestamp for date-times."""
    if isinstance(field, models.DateTimeField):
        return now
    if isinstance(field, models.DateField):
        return datetime.date.today()
    return datetime.datetime.now().time()  # a TimeField


def _related_key(field: Field, related: Any) -> Any:
    """The key a foreign key stores for a related instance given by field name (None stays None)."""
    if related is None:
        return None
    if not isinstance(related, Model):
        raise ValueError(
            f"{field.name} takes a {field.related_model.__name__} instance; give {field.attname} for a key."
        )
    key = getattr(related, field.target_field.attname)
    if key is None:
        raise ValueError(f"{field.name} is an unsaved {field.related_model.__name__}; save it first.")
    return key


def _keeps_whole_numbers(field: Field) -> bool:
    """True when Django's own conversions store an exact ``int`` given for ``field`` as it is: an auto primary
    key, or a foreign key to one, whose classes override none of the conversion methods involved (the auto
    field's ``get_db_prep_value`` is ``int()`` and ``validate_autopk_value``, which keeps the value on
    PostgreSQL and SQLite)."""
    target = field.target_field if field.is_relation else field
    own_save = ForeignKey.get_db_prep_save if field.is_relation else Field.get_db_prep_save
    return (
        isinstance(target, AutoFieldMixin)
        and type(field).get_db_prep_save is own_save
        and type(target).get_db_prep_save is Field.get_db_prep_save
        and type(target).get_db_prep_value is AutoFieldMixin.get_db_prep_value
        and type(target).get_prep_value is models.IntegerField.get_prep_value
    )


def _is_plain_uuid_field(field: Field) -> bool:
    """True for a UUIDField (not a relation) whose classes override none of Django's conversion methods."""
    return (
        isinstance(field, models.UUIDField)
        and type(field).get_db_prep_save is Field.get_db_prep_save
        and type(field).get_db_prep_value is models.UUIDField.get_db_prep_value
    )


def _to_db(field: Field, values: Column, count: int, connection: BaseDatabaseWrapper) -> list[Any]:
    """The column's values in database form, via the field's ``get_db_prep_save``, as a list of ``count``."""
    prepare = field.get_db_prep_save
    if isinstance(values, _Same):
        return [prepare(values.value, connection)] * count
    if _keeps_whole_numbers(field) and set(map(type, values)) <= {int}:
        # Keys of related rows, mostly distinct: converting each would cost more than the rest of the column.
        return list(values)
    if _is_plain_uuid_field(field) and set(map(type, values)) <= {uuid.UUID}:
        # What UUIDField.get_db_prep_value gives a UUID: itself where the database has a uuid type, else its hex.
        return list(values) if connection.features.has_native_uuid_field else [value.hex for value in values]
    if field.primary_key or field.unique:
        # A unique column holds no repeated values, so remembering conversions would only cost.
        return [prepare(value, connection) for value in values]
    # Values of one type that compare equal have one database form, so each is converted once.
    # The type is part of the key so that 1, 1.0 and True stay apart.
    converted: dict[tuple[type, Any], Any] = {}
    result = []
    for value in values:
        key = (value.__class__, value)
        try:
            db_value = converted.get(key, _MISSING)
        except TypeError:  # an unhashable value, such as a dict for a JSONField
            db_value = prepare(value, connection)
        else:
            if db_value is _MISSING:
                db_value = converted[key] = prepare(value, connection)
        result.append(db_value)
    return result


def _as_list(column: Column, count: int) -> list[Any]:
    return [column.value] * count if isinstance(column, _Same) else column


def _map(column: Column, function: Callable[[Any], Any]) -> Column:
    if isinstance(column, _Same):
        return _Same(function(column.value))
    return [function(value) for value in column]


def _per_object(objects: Sequence[Model], attribute: str, default: Any) -> Column:
    """Each object's ``attribute`` where it has one, else ``default``."""
    values = [getattr(obj, attribute, _MISSING) for obj in objects]
    if all(value is _MISSING for value in values):
        return _Same(default)
    return [default if value is _MISSING else value for value in values]


def _updatable_fields(model: type[Model], names: Sequence[str]) -> list[Field]:
    fields_by_key: dict[str, Field] = {}
    for field in model._meta.concrete_fields:
        fields_by_key[field.name] = field
        fields_by_key[field.attname] = field
    fields = []
    for name in dict.fromkeys(names):
        field = fields_by_key.get(name)
        if field is None:
            raise ValueError(f"{model.__name__} has no concrete field {name!r}.")
        if field.primary_key or field.generated:
            raise ValueError(f"update_with_history cannot update {model.__name__}.{field.name}.")
        fields.append(field)
    if not fields:
        raise ValueError("update_with_history needs at least one field to update.")
    return fields


# --- history -------------------------------------------------------------------------------------


def _history_enabled() -> bool:
    return getattr(settings, "SIMPLE_HISTORY_ENABLED", True)


def _default_history_user(history_model: type[Model]) -> Any:
    """The user simple-history records when none is given: the request user (via its middleware) or None.

    simple-history asks its ``get_user`` hook once per instance; the rows here are no instances, so it
    is asked once per call, with ``instance=None``.
    """
    return history_model.get_default_history_user(None)


def _insert_history(
    model: type[Model],
    history_model: type[Model],
    count: int,
    *,
    python_values: Mapping[str, Column],
    db_ready: Mapping[str, list[Any]],
    extras: Mapping[str, Column],
    now: datetime.datetime,
    rows_per_batch: int,
) -> None:
    """Insert ``count`` history rows for ``model``.

    Tracked fields come from ``python_values`` (by attname), or, where the history field is of the live
    field's own class (simple-history copies fields, so they convert alike), from the live rows' database
    values in ``db_ready``. simple-history's own columns come from ``extras``; any other column gets
    its default.
    """
    connection = connections[router.db_for_write(history_model)]
    live_fields = {field.attname: field for field in model._meta.concrete_fields}
    auto_pk = model._meta.pk if isinstance(model._meta.pk, AutoFieldMixin) else None
    fields = _writable_fields(history_model)
    columns = []
    for field in fields:
        attname = field.attname
        live_field = live_fields.get(attname)
        if attname in extras:
            column = _to_db(field, extras[attname], count, connection)
        elif (
            live_field is not None
            and attname in db_ready
            and (type(field) is type(live_field) or live_field is auto_pk)
        ):
            column = db_ready[attname]
        elif attname in python_values:
            column = _to_db(field, python_values[attname], count, connection)
        else:
            column = _to_db(field, _default_column(field, count, now), count, connection)
        columns.append(column)
    _insert(connection, history_model, fields, columns, rows_per_batch)


# --- SQL -----------------------------------------------------------------------------------------
#
# Statements are built for the two databases Rollbook runs on. On PostgreSQL a column travels as one
# array parameter, expanded by UNNEST (as Django's own bulk_create does there), so a statement has as
# many parameters as columns, whatever its row count. On SQLite rows travel as a VALUES list.
# Either way a column holding one value in every row of a batch (a shared timestamp, history_type,
# history_user) is sent once, as a single parameter, rather than once per row: that is most history
# columns, and it saves converting, sending and parsing the same value a thousand times.


def batch_size(size: int | None = None) -> int:
    """Rows per batch of a set-based operation: ``size`` when given, else ``settings.BULK_BATCH_SIZE``; at least 1."""
    return max(1, int(settings.BULK_BATCH_SIZE if size is None else size))


def batches(items: Sequence[_T], size: int | None = None) -> Iterator[Sequence[_T]]:
    """Consecutive slices of ``items`` of at most ``batch_size(size)`` items."""
    step = batch_size(size)
    for start in range(0, len(items), step):
        yield items[start : start + step]


# insert_with_history and update_with_history take a ``batch_size`` argument that shadows the function
_rows_per_batch = batch_size


def _sqlite_max_query_params(connection: BaseDatabaseWrapper) -> int:
    """How many bind parameters one statement may carry on this SQLite connection (Django assumes 999)."""
    connection.ensure_connection()
    try:
        allowed = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except AttributeError:  # getlimit() is new in Python 3.11; older ones go by the SQLite version
        allowed = _SQLITE_MAX_QUERY_PARAMS if sqlite3.sqlite_version_info >= (3, 32) else _SQLITE_OLD_MAX_QUERY_PARAMS
    return min(allowed, _SQLITE_MAX_QUERY_PARAMS)


def _check_supported(connection: BaseDatabaseWrapper, fields: Sequence[Field]) -> None:
    """Raise NotSupportedError unless the statements below can write these fields on this database."""
    if connection.vendor not in ("postgresql", "sqlite"):
        raise NotSupportedError(f"rollbook.core.bulk writes to PostgreSQL and SQLite, not {connection.display_name}.")
    for field in fields:
        if hasattr(field, "get_placeholder"):
            raise NotSupportedError(f"{field} needs SQL placeholders of its own; use bulk_create_with_history.")
        # Django's own test for a field whose values can go through a PostgreSQL array.
        if (field.target_field if field.is_relation else field).get_internal_type() not in connection.data_types:
            raise NotSupportedError(f"{field} has no standard database type; use bulk_create_with_history.")


def _array_type(field: Field, connection: BaseDatabaseWrapper) -> str:
    """The PostgreSQL type a value of ``field`` is cast to, without modifiers (varchar, not varchar(64)).

    Dropping the modifiers, as Django does, keeps a cast from silently truncating a value that the
    column itself would reject.
    """
    return field.db_type(connection).split("(")[0]


_UUID_HEX = operator.attrgetter("hex")


def _quoted_text(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _array_element_writer(kind: type) -> Callable[[Any], str] | None:
    """How a value of this exact type is written as an element of a PostgreSQL array literal, or None for a
    type left to psycopg. Strings and date-times are double-quoted (backslash and quote escaped), so any
    text is safe; NULL is the bare word."""
    if kind is type(None):
        return lambda value: "NULL"
    if kind is bool:
        return lambda value: "t" if value else "f"
    if issubclass(kind, int):  # int, and psycopg's Int2/Int4/Int8 wrappers Django gives integer fields
        return int.__repr__
    if kind is uuid.UUID:
        return _UUID_HEX  # PostgreSQL reads a uuid from its 32 hex digits too
    if issubclass(kind, str):
        return _quoted_text
    if kind in (datetime.datetime, datetime.date):
        return lambda value: '"' + value.isoformat() + '"'
    return None


def _pg_array(values: list[Any]) -> str | list[Any]:
    """A column's values as one PostgreSQL array literal (``{1,2,NULL}``), the statement casting it to the column's
    array type; the list itself when a value is of a type ``_array_element_writer`` leaves to psycopg.

    psycopg binds parameters client-side, turning a list into a literal element by element in Python, with a
    regular expression per element to decide on quoting: that took longer than the INSERT it fed. Here a
    column of whole numbers is one join, and other columns one call per element."""
    kinds = set(map(type, values))
    if len(kinds) == 1 and (kind := next(iter(kinds))) in (int, uuid.UUID):
        return "{" + ",".join(map(int.__repr__ if kind is int else _UUID_HEX, values)) + "}"
    writers = {kind: _array_element_writer(kind) for kind in kinds}
    if None in writers.values():
        return values
    return "{" + ",".join([writers[type(value)](value) for value in values]) + "}"


def _varying(columns: Sequence[list[Any]], start: int, stop: int) -> list[int]:
    """The positions of the columns whose values are not all equal within rows ``start:stop``."""
    varying = []
    for position, column in enumerate(columns):
        values = column[start:stop]
        if values.count(values[0]) != len(values):
            varying.append(position)
    return varying


def _insert_statements(
    connection: BaseDatabaseWrapper,
    model: type[Model],
    fields: Sequence[Field],
    columns: Sequence[list[Any]],
    rows_per_batch: int,
    returning: str = "",
) -> Iterator[tuple[str, list[Any], int, int]]:
    """Yield ``(sql, params, start, stop)`` INSERTing rows ``start:stop`` of the columns, covering every row."""
    _check_supported(connection, fields)
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(field.column) for field in fields)})"
    count = len(columns[0])
    for batch_start in range(0, count, rows_per_batch):
        batch_stop = min(batch_start + rows_per_batch, count)
        # A statement needs one column sent per row to carry its row count.
        varying = _varying(columns, batch_start, batch_stop) or [0]
        constants = [column[batch_start] for position, column in enumerate(columns) if position not in varying]
        if connection.vendor == "postgresql":
            select = ", ".join(
                f"u.c{position}" if position in varying else f"(%s)::{_array_type(field, connection)}"
                for position, field in enumerate(fields)
            )
            arrays = ", ".join(f"(%s)::{_array_type(fields[position], connection)}[]" for position in varying)
            aliases = ", ".join(f"c{position}" for position in varying)
            sql = f"{head} SELECT {select} FROM UNNEST({arrays}) AS u({aliases}) {returning}".rstrip()
            arrays_params = [_pg_array(columns[p][batch_start:batch_stop]) for p in varying]
            yield sql, [*constants, *arrays_params], batch_start, batch_stop
            continue
        # SQLite names the columns of a VALUES list column1, column2, ...
        width = len(varying)
        select = ", ".join(
            f"column{varying.index(position) + 1}" if position in varying else "%s" for position in range(len(fields))
        )
        row_placeholder = f"({', '.join(['%s'] * width)})"
        per_statement = max(1, (_sqlite_max_query_params(connection) - len(constants)) // width)
        for start in range(batch_start, batch_stop, per_statement):
            stop = min(start + per_statement, batch_stop)
            values = ", ".join([row_placeholder] * (stop - start))
            sql = f"{head} SELECT {select} FROM (VALUES {values}) {returning}".rstrip()
            # Interleave the varying columns into one flat list, row by row, by slice assignment.
            params: list[Any] = [None] * ((stop - start) * width)
            for offset, position in enumerate(varying):
                params[offset::width] = columns[position][start:stop]
            yield sql, [*constants, *params], start, stop


def _insert(
    connection: BaseDatabaseWrapper,
    model: type[Model],
    fields: Sequence[Field],
    columns: Sequence[list[Any]],
    rows_per_batch: int,
) -> None:
    with connection.cursor() as cursor:
        for sql, params, _start, _stop in _insert_statements(connection, model, fields, columns, rows_per_batch):
            cursor.execute(sql, params)


def _insert_returning_keys(
    connection: BaseDatabaseWrapper,
    model: type[Model],
    fields: Sequence[Field],
    columns: Sequence[list[Any]],
    pk_field: Field,
    rows_per_batch: int,
) -> list[Any]:
    """Insert the rows and return the keys the database gave them, in row order."""
    if connection.features.can_return_rows_from_bulk_insert:
        returning, _params = connection.ops.return_insert_columns([pk_field])
        keys: list[Any] = []
        with connection.cursor() as cursor:
            for sql, params, _start, _stop in _insert_statements(
                connection, model, fields, columns, rows_per_batch, returning
            ):
                cursor.execute(sql, params)
                # RETURNING lists the rows in insertion order: Django's own bulk_create relies on it too.
                keys.extend(row[0] for row in connection.ops.fetch_returned_insert_rows(cursor))
        return keys
    # No RETURNING (SQLite before 3.35): find each statement's rows again by a unique column.
    position = next(
        (
            position
            for position, field in enumerate(fields)
            if field.unique and all(value is not None for value in columns[position])
        ),
        None,
    )
    if position is None:
        raise NotSupportedError(
            f"{connection.display_name} cannot return the keys of a multi-row INSERT, and no unique column of "
            f"{model.__name__} is set in every row to find them by."
        )
    quote = connection.ops.quote_name
    select = (
        f"SELECT {quote(fields[position].column)}, {quote(pk_field.column)} "
        f"FROM {quote(model._meta.db_table)} WHERE {quote(fields[position].column)} IN "
    )
    keys = []
    with connection.cursor() as cursor:
        for sql, params, start, stop in _insert_statements(connection, model, fields, columns, rows_per_batch):
            cursor.execute(sql, params)
            unique_values = columns[position][start:stop]
            cursor.execute(select + f"({', '.join(['%s'] * len(unique_values))})", unique_values)
            key_by_value = dict(cursor.fetchall())
            keys.extend(key_by_value[value] for value in unique_values)
    return keys


def _update(
    connection: BaseDatabaseWrapper,
    model: type[Model],
    pks: list[Any],
    columns: Mapping[Field, list[Any]],
) -> int:
    """UPDATE the rows with these keys (database form) to the columns' row-aligned values; return rows updated.

    PostgreSQL joins the table to the keys and varying values UNNESTed from arrays; SQLite sets a
    varying column through a CASE on the key (UPDATE ... FROM needs SQLite 3.33, Django supports 3.31).
    """
    fields = list(columns)
    _check_supported(connection, [model._meta.pk, *fields])
    quote = connection.ops.quote_name
    table, pk_column = quote(model._meta.db_table), quote(model._meta.pk.column)
    values = [columns[field] for field in fields]
    varying = _varying(values, 0, len(pks))
    constant_positions = [position for position in range(len(fields)) if position not in varying]
    constant_values = [values[position][0] for position in constant_positions]
    updated = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            assignments = [
                f"{quote(fields[position].column)} = (%s)::{_array_type(fields[position], connection)}"
                for position in constant_positions
            ]
            assignments += [f"{quote(fields[position].column)} = u.c{position}" for position in varying]
            arrays = ", ".join(
                f"(%s)::{_array_type(field, connection)}[]"
                for field in [model._meta.pk, *(fields[position] for position in varying)]
            )
            aliases = ", ".join(["k", *(f"c{position}" for position in varying)])
            sql = (
                f"UPDATE {table} SET {', '.join(assignments)} FROM UNNEST({arrays}) AS u({aliases}) "
                f"WHERE {table}.{pk_column} = u.k"
            )
            cursor.execute(
                sql, [*constant_values, _pg_array(pks), *(_pg_array(values[position]) for position in varying)]
            )
            return cursor.rowcount
        # Parameters per row: one in the WHERE list and a (key, value) pair per varying column's CASE.
        per_statement = max(1, (_sqlite_max_query_params(connection) - len(constant_values)) // (1 + 2 * len(varying)))
        for start in range(0, len(pks), per_statement):
            stop = min(start + per_statement, len(pks))
            keys = pks[start:stop]
            assignments = [f"{quote(fields[position].column)} = %s" for position in constant_positions]
            params = list(constant_values)
            for position in varying:
                cases = " ".join(["WHEN %s THEN %s"] * len(keys))
                assignments.append(f"{quote(fields[position].column)} = CASE {pk_column} {cases} END")
                params.extend(chain.from_iterable(zip(keys, values[position][start:stop], strict=True)))
            sql = f"UPDATE {table} SET {', '.join(assignments)} WHERE {pk_column} IN ({', '.join(['%s'] * len(keys))})"
            cursor.execute(sql, [*params, *keys])
            updated += cursor.rowcount
    return updated
