"""`Record`: a dataclass that is one row of a table, for the plain-SQL runtime.

Its fields name the table's columns. The schema itself is the migrations' (models.py
describes it for Alembic and the tests); tests/test_record_contract.py checks every Record
against the migrated table on SQLite and PostgreSQL (names, nullability, types), so a
Record that drifts from its table fails there, not at run time."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from omnichat.db.dbapi import read_datetime, read_json

if TYPE_CHECKING:
    from omnichat.db.lite import Db

R = TypeVar("R", bound="Record")


_names: dict[type, tuple[str, ...]] = {}  # per class, once: rows are read on every page of a chat


class Record:
    """Base of a dataclass that is one row of `TABLE`, its fields named as the columns.
    Reads convert what the two drivers hand back differently (SQLite: JSON and datetimes
    as text, booleans as 0/1): `JSON`, `TIMESTAMPS` and `FLAGS` name those columns."""

    TABLE: ClassVar[str]
    JSON: ClassVar[tuple[str, ...]] = ()
    TIMESTAMPS: ClassVar[tuple[str, ...]] = ("created_at", "updated_at")
    FLAGS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def names(cls) -> tuple[str, ...]:
        names = _names.get(cls)
        if names is None:
            names = _names[cls] = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]  # a dataclass
        return names

    @classmethod
    def columns(cls, alias: str | None = None) -> str:
        return ", ".join(f"{alias or cls.TABLE}.{name}" for name in cls.names())

    @classmethod
    def read(cls: type[R], row: Any) -> R:
        values = dict(zip(cls.names(), row, strict=True))
        for name in cls.JSON:
            values[name] = read_json(values[name])
        for name in cls.TIMESTAMPS:
            values[name] = read_datetime(values[name])
        for name in cls.FLAGS:
            values[name] = bool(values[name])
        return cls(**values)

    @classmethod
    def select(cls: type[R], db: Db, rest: str, *params: Any) -> list[R]:
        """`SELECT <columns> FROM <TABLE> <rest>`."""
        rows = db.execute(f"SELECT {cls.columns()} FROM {cls.TABLE} {rest}", *params).fetchall()
        return [cls.read(row) for row in rows]

    @classmethod
    def first(cls: type[R], db: Db, rest: str, *params: Any) -> R | None:
        found = cls.select(db, rest, *params)
        return found[0] if found else None

    def insert(self, db: Db, on_conflict: str = "") -> Any:
        return db.insert(self.TABLE, vars(self), on_conflict)
