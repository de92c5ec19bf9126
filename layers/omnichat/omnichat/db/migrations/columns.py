"""The columns, keys and indexes the migrations write again and again, written once.

Frozen history: what each helper emits is what the migrations spelled out before it (the
same types, names and order), so a migration that uses them builds the same schema. The
names follow models.NAMING (`pk_<table>`, `uq_<table>_<columns>`, `fk_<table>_<column>_<target>`,
`ix_<table>_<columns>`), marked final with op.f as autogenerate writes them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from omnichat.db.migrations.defaults import now


def id_column(name: str = 'id', *, nullable: bool = False) -> sa.Column[Any]:
    """A row's id, or a reference to one: a UUID's 36 characters."""
    return sa.Column(name, sa.String(length=36), nullable=nullable)


def string(name: str, length: int, *, nullable: bool = False, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.String(length=length), nullable=nullable, **kw)


def timestamp(name: str, *, nullable: bool = False, default: bool = False) -> sa.Column[Any]:
    """A point in time; with `default`, the current time (defaults.now) when an INSERT leaves it out."""
    if default:
        return sa.Column(name, sa.DateTime(timezone=True), server_default=now(), nullable=nullable)
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def timestamps(*names: str, default: bool = True) -> list[sa.Column[Any]]:
    """`created_at` and `updated_at` (or the columns named), required, defaulting to now."""
    return [timestamp(name, default=default) for name in names or ('created_at', 'updated_at')]


def pk(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    """The primary key on `columns` (`id` when none are named)."""
    return sa.PrimaryKeyConstraint(*(columns or ('id',)), name=op.f(f'pk_{table}'))


def unique(table: str, *columns: str) -> sa.UniqueConstraint:
    return sa.UniqueConstraint(*columns, name=op.f(f'uq_{table}_{"_".join(columns)}'))


def fk(table: str, column: str, target: str, ondelete: str = 'CASCADE') -> sa.ForeignKeyConstraint:
    """`table.column` refers to `target.id`."""
    return sa.ForeignKeyConstraint([column], [f'{target}.id'], name=op.f(f'fk_{table}_{column}_{target}'),
                                   ondelete=ondelete)


def index(table: str, *columns: str, name: str | None = None, **kw: Any) -> None:
    """CREATE INDEX `ix_<table>_<columns>` (or `name`); `kw`: unique=True, the dialects' WHERE."""
    kw.setdefault('unique', False)
    op.create_index(op.f(name or f'ix_{table}_{"_".join(columns)}'), table, list(columns), **kw)


def link_table(table: str, left: tuple[str, str], right: tuple[str, str], *columns: sa.Column[Any]) -> None:
    """A many-to-many table: one row per pair of ids, `left` and `right` (each `(column, the table it
    refers to)`, deleted with either row), keyed by the pair, indexed by `right`; `columns` come after
    the two. Its downgrade: drop(table, 'ix_<table>_<right column>')."""
    (a, a_target), (b, b_target) = left, right
    op.create_table(table, id_column(a), id_column(b), *columns,
                    fk(table, a, a_target), fk(table, b, b_target), pk(table, a, b))
    index(table, b)


def drop(table: str, *indexes: str) -> None:
    """DROP the named indexes of `table` (in the order given), then the table."""
    for name in indexes:
        op.drop_index(op.f(name), table_name=table)
    op.drop_table(table)
