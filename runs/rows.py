"""Single SQL statements for what every job does: its read, its claim, its final move, its logs.

Each job of the local engine makes these on the path from one job's end
to the next job's start; building them as querysets cost Django's compiler
several times what the database took. These helpers send the same statements
directly, with each value prepared by the model's own field, so they behave
the same on SQLite and PostgreSQL. On PostgreSQL each statement is a round
trip, and on a busy machine each one waits for the database's process to
get a CPU (~1 ms on this project's 2-core machines): the final move and the
job's last log lines are one statement there (`update`'s `then_insert`), as
are the claim and the job's read (`PreparedGet.update_then_get`). The one
read (`PreparedGet`: a job with its run and cluster) is compiled by Django
once per process and its rows made into objects by Django's own converters
and populators.

On PostgreSQL these statements go through a cursor that binds values on the
server and has each statement prepared once per connection
(`_statement_cursor`): the claim was planned anew for every job, ~0.4 of
its ~1.1 ms idle and ~1 ms of the dependency hop under a chain's load.
Django's own cursors keep its client-side binding and never prepare. Behind
PgBouncer in transaction mode this needs PgBouncer 1.21 or later with
`max_prepared_statements` set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

import psycopg
from django.db import connection, transaction
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.sql.compiler import SQLCompiler


@dataclass(frozen=True)
class Add:
    """A value meaning `column = column + amount`."""

    amount: int


def _column(model: type[Model], name: str):
    field = model._meta.get_field(name)
    return field, connection.ops.quote_name(field.column)


@dataclass(frozen=True)
class Related:
    """A `where` value for a foreign key: the row it refers to holds every `where` item."""

    model: type[Model]
    where: dict[str, object]


@dataclass(frozen=True)
class Row:
    """One row of `model` to INSERT, its primary key from the database."""

    model: type[Model]
    values: dict[str, object]

    def sql(self) -> tuple[str, str, list]:
        """`INSERT INTO table (columns)`, the placeholders of its values, and the values."""
        columns, parameters = [], []
        for name, value in self.values.items():
            field, column = _column(self.model, name)
            columns.append(column)
            parameters.append(field.get_db_prep_save(value, connection))
        table = connection.ops.quote_name(self.model._meta.db_table)
        return (
            f"INSERT INTO {table} ({', '.join(columns)})",
            ", ".join(["%s"] * len(columns)),
            parameters,
        )


def update(
    model: type[Model],
    *,
    where: dict[str, object],
    values: dict[str, object],
    returning: tuple[str, ...] = (),
    then_insert: Row | None = None,
) -> list[tuple]:
    """UPDATE the rows matching every `where` item with `values`.

    A `where` value that is a list or tuple matches any of its items; a
    `Related` one, a foreign key whose row holds its own `where`. Returns
    the changed rows' `returning` columns as they are after the update (one
    statement, so they are the ones this update wrote), or an empty tuple
    per changed row.

    `then_insert` is inserted when (and only when) the update changed a row,
    in the same transaction: on PostgreSQL in the same statement, so that
    outside a transaction the two cost one round trip, not four (BEGIN and
    COMMIT are round trips of their own, and each one waits for the database
    process to get a CPU on a busy machine).
    """
    sql, parameters = _update_sql(model, where, values)
    if then_insert is not None:
        return _update_then_insert(sql, parameters, model, returning, then_insert)
    if not returning:
        with _statement_cursor() as cursor:
            cursor.execute(sql, parameters)
            return [()] * cursor.rowcount
    return _fetched(sql + _returning(model, returning), parameters)


def _update_sql(
    model: type[Model], where: dict[str, object], values: dict[str, object]
) -> tuple[str, list]:
    assignments, parameters = [], []
    for name, value in values.items():
        field, column = _column(model, name)
        if isinstance(value, Add):
            assignments.append(f"{column} = {column} + %s")
            parameters.append(value.amount)
        else:
            assignments.append(f"{column} = %s")
            parameters.append(field.get_db_prep_save(value, connection))
    conditions, condition_parameters = _conditions(model, where)
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"UPDATE {table} SET {', '.join(assignments)} WHERE {conditions}"
    return sql, parameters + condition_parameters


def _conditions(model: type[Model], where: dict[str, object]) -> tuple[str, list]:
    """`where` as SQL conditions all joined by AND (columns named with their table), and
    their parameters. A `Related` one is a correlated EXISTS: it reads the one row it
    refers to, by its key (an IN over a subquery would read every row of its table)."""
    conditions, parameters = [], []
    table = connection.ops.quote_name(model._meta.db_table)
    for name, value in where.items():
        field, column = _column(model, name)
        column = f"{table}.{column}"
        if isinstance(value, Related):
            related = value.model
            inner, inner_parameters = _conditions(related, value.where)
            related_table = connection.ops.quote_name(related._meta.db_table)
            key = f"{related_table}.{connection.ops.quote_name(related._meta.pk.column)}"
            conditions.append(
                f"EXISTS (SELECT 1 FROM {related_table} WHERE {key} = {column} AND {inner})"
            )
            parameters.extend(inner_parameters)
        elif isinstance(value, (list, tuple)):
            conditions.append(f"{column} IN ({', '.join(['%s'] * len(value))})")
            parameters.extend(field.get_db_prep_value(item, connection) for item in value)
        else:
            conditions.append(f"{column} = %s")
            parameters.append(field.get_db_prep_value(value, connection))
    return " AND ".join(conditions), parameters


def _returning(model: type[Model], names: tuple[str, ...]) -> str:
    # A changed row is known by its primary key when the caller wants nothing of it.
    names = names or (model._meta.pk.name,)
    return " RETURNING " + ", ".join(_column(model, name)[1] for name in names)


# psycopg prepares a statement when asked (prepare=True) or once it has run this
# many times; Django turns preparing off (None) for the app's own statements.
PREPARE_ONLY_WHEN_ASKED = 2**31


class _PreparingCursor:
    """A psycopg cursor binding on the server, each statement prepared on first use."""

    def __init__(self, cursor: psycopg.Cursor) -> None:
        self._cursor = cursor

    def execute(self, sql: str, parameters: list) -> None:
        self._cursor.execute(sql, parameters, prepare=True)

    def fetchone(self) -> tuple | None:
        return self._cursor.fetchone()

    def fetchall(self) -> list[tuple]:
        return self._cursor.fetchall()

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount


@contextlib.contextmanager
def _statement_cursor() -> Iterator:
    """A cursor for this module's statements: Django's, except on PostgreSQL (see above)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = connection.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = PREPARE_ONLY_WHEN_ASKED
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        yield _PreparingCursor(cursor)


def _fetched(sql: str, parameters: list) -> list[tuple]:
    with _statement_cursor() as cursor:
        cursor.execute(sql, parameters)
        return [tuple(row) for row in cursor.fetchall()]


def _update_then_insert(
    update_sql: str, parameters: list, model: type[Model], returning: tuple[str, ...], row: Row
) -> list[tuple]:
    returned = _returning(model, returning)
    if connection.vendor != "postgresql":
        with transaction.atomic():
            changed = _fetched(update_sql + returned, parameters)
            if changed:
                insert(row)
    else:
        insert_sql, placeholders, insert_parameters = row.sql()
        columns = returned.removeprefix(" RETURNING ")
        changed = _fetched(
            f"WITH changed AS ({update_sql}{returned}), "
            f"inserted AS ({insert_sql} SELECT {placeholders} FROM changed) "
            f"SELECT {columns} FROM changed",
            [*parameters, *insert_parameters],
        )
    return changed if returning else [()] * len(changed)


def insert(row: Row) -> None:
    """INSERT one row (its primary key comes from the database)."""
    sql, placeholders, parameters = row.sql()
    with _statement_cursor() as cursor:
        cursor.execute(f"{sql} VALUES ({placeholders})", parameters)


M = TypeVar("M", bound=Model)
# Stands for the primary key in the compiled statement, then is swapped for it.
_KEY_PLACEHOLDER = -1


@dataclass(frozen=True)
class _CompiledGet:
    """A get's statement and what turns its row into objects, as Django's ModelIterable does."""

    sql: str
    compiler: SQLCompiler
    converters: dict
    # Where the model's own columns lie in the row, and the fields they fill.
    start: int
    end: int
    names: list[str]
    populators: list


class PreparedGet(Generic[M]):
    """`queryset.get(pk=…)` for one queryset (with its select_related), compiled once.

    Compiling a job's read with its run and cluster took three quarters of
    the read's CPU, on every job. The statement Django compiles for a
    placeholder key is kept with what turns its row into objects; each get
    sends it with the key and builds the same objects a queryset would.
    It reads the default database, and takes a queryset of plain fields and
    select_related (no annotations, no other parameters).
    """

    def __init__(self, queryset: QuerySet[M]) -> None:
        self._queryset = queryset
        self._compiled: _CompiledGet | None = None

    def _compile(self) -> _CompiledGet:
        if self._compiled is None:
            query = self._queryset.order_by().filter(pk=_KEY_PLACEHOLDER).query
            compiler = query.get_compiler(connection=connection)
            sql, params = compiler.as_sql()
            if tuple(params) != (_KEY_PLACEHOLDER,):
                raise ValueError(f"cannot prepare a get with parameters {params!r}")
            fields = compiler.klass_info["select_fields"]
            start, end = fields[0], fields[-1] + 1
            self._compiled = _CompiledGet(
                sql=sql,
                compiler=compiler,
                converters=compiler.get_converters(
                    [column[0] for column in compiler.select[: compiler.col_count]]
                ),
                start=start,
                end=end,
                names=[column[0].target.attname for column in compiler.select[start:end]],
                populators=get_related_populators(
                    compiler.klass_info, compiler.select, connection.alias
                ),
            )
        return self._compiled

    def get(self, pk: int) -> M:
        found = self._get(pk)
        if found is None:
            model = self._queryset.model
            raise model.DoesNotExist(f"{model.__name__} {pk} does not exist")
        return found

    def update_then_get(
        self, pk: int, *, where: dict[str, object], values: dict[str, object]
    ) -> M | None:
        """UPDATE the row `pk` names with `values` where every `where` item holds (as
        `update` does), then get it as it is after; None when the update changed nothing.

        On PostgreSQL one statement, one round trip: the get reads the row the
        UPDATE returns from a WITH query named as the model's table, which
        stands for the table in the compiled get.
        """
        model = self._queryset.model
        sql, parameters = _update_sql(model, {model._meta.pk.name: pk, **where}, values)
        if connection.vendor != "postgresql":
            return self._get(pk) if _fetched(sql + _returning(model, ()), parameters) else None
        table = connection.ops.quote_name(model._meta.db_table)
        return self._get(pk, prefix=(f"WITH {table} AS ({sql} RETURNING *) ", parameters))

    def _get(self, pk: int, prefix: tuple[str, list] = ("", [])) -> M | None:
        compiled = self._compile()
        with _statement_cursor() as cursor:
            cursor.execute(prefix[0] + compiled.sql, [*prefix[1], pk])
            row = cursor.fetchone()
        model = self._queryset.model
        if row is None:
            return None
        if compiled.converters:
            row = next(iter(compiled.compiler.apply_converters([row], compiled.converters)))
        found = model.from_db(connection.alias, compiled.names, row[compiled.start : compiled.end])
        for populator in compiled.populators:
            populator.populate(row, found)
        return found
