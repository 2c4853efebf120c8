"""Single SQL statements for the writes every job makes: its claim, its final move, its logs.

Each job of the local engine makes these writes on the path from one job's end
to the next job's start; building them as querysets cost Django's compiler
several times what the database took. These helpers send the same statements
directly, with each value prepared by the model's own field, so they behave
the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import Model


@dataclass(frozen=True)
class Add:
    """A value meaning `column = column + amount`."""

    amount: int


def _column(model: type[Model], name: str):
    field = model._meta.get_field(name)
    return field, connection.ops.quote_name(field.column)


def update(
    model: type[Model],
    *,
    where: dict[str, object],
    values: dict[str, object],
    returning: tuple[str, ...] = (),
) -> list[tuple]:
    """UPDATE the rows matching every `where` item with `values`.

    A `where` value that is a list or tuple matches any of its items. Returns
    the changed rows' `returning` columns as they are after the update (one
    statement, so they are the ones this update wrote), or an empty tuple
    per changed row.
    """
    assignments, parameters = [], []
    for name, value in values.items():
        field, column = _column(model, name)
        if isinstance(value, Add):
            assignments.append(f"{column} = {column} + %s")
            parameters.append(value.amount)
        else:
            assignments.append(f"{column} = %s")
            parameters.append(field.get_db_prep_save(value, connection))
    conditions = []
    for name, value in where.items():
        field, column = _column(model, name)
        if isinstance(value, (list, tuple)):
            conditions.append(f"{column} IN ({', '.join(['%s'] * len(value))})")
            parameters.extend(field.get_db_prep_value(item, connection) for item in value)
        else:
            conditions.append(f"{column} = %s")
            parameters.append(field.get_db_prep_value(value, connection))
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"UPDATE {table} SET {', '.join(assignments)} WHERE {' AND '.join(conditions)}"
    if not returning:
        with connection.cursor() as cursor:
            cursor.execute(sql, parameters)
            return [()] * cursor.rowcount
    sql += " RETURNING " + ", ".join(_column(model, name)[1] for name in returning)
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        return [tuple(row) for row in cursor.fetchall()]


def insert(model: type[Model], values: dict[str, object]) -> None:
    """INSERT one row with `values` (the primary key comes from the database)."""
    columns, parameters = [], []
    for name, value in values.items():
        field, column = _column(model, name)
        columns.append(column)
        parameters.append(field.get_db_prep_save(value, connection))
    table = connection.ops.quote_name(model._meta.db_table)
    placeholders = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", parameters
        )
