"""The runtime's rows against the schema, on SQLite and PostgreSQL.

The runtime reads and writes with plain SQL (omnichat.db.lite) and `Record` dataclasses;
the schema is the migrations' (models.py describes it). Nothing but these tests ties the
two, so they prove, against the migrated database:

- every `Record` names exactly its table's columns, with the table's nullability and
  Python types, and lists its JSON, datetime and boolean columns for the readers;
- every plain `db.insert("<table>", {...})` in the core names real columns and gives every
  column that has no default;
- every default the models declare is in the database too (migration 0006), with the same
  value: a plain INSERT that leaves a column out gets what an ORM insert would;
- the partial unique index of `model_pulls` has the predicate the statements name
  (`ACTIVE_SQL`), so `ON CONFLICT (model) WHERE ...` matches it.
"""

from __future__ import annotations

import ast
import importlib
import re
import types
import typing
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, inspect
from sqlalchemy.types import TypeDecorator

from omnichat.catalog import presets
from omnichat.catalog.pulls import ACTIVE_SQL
from omnichat.chats.titles import DEFAULT_TITLE
from omnichat.db import lite
from omnichat.db.engine import get_engine
from omnichat.db.lite import Db, Record
from omnichat.db.models import Base

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "layers/omnichat/omnichat"
MIGRATIONS = CORE / "db/migrations/versions"


def _core_modules() -> dict[str, ast.Module]:
    return {".".join(path.relative_to(CORE.parent).with_suffix("").parts): ast.parse(path.read_text())
            for path in CORE.rglob("*.py") if "migrations" not in path.parts}


def all_records() -> list[type[Record]]:
    """Every `class X(Record)` in the core, found in the source (a new one is checked too)."""
    found = []
    for module, tree in _core_modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(getattr(b, "id", None) == "Record" for b in node.bases):
                found.append(getattr(importlib.import_module(module), node.name))
    return found


def _python_type(annotation: Any) -> tuple[type, bool]:
    """(the type, whether None is allowed) of a field's annotation."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _python_type(args[0])[0], len(args) < len(typing.get_args(annotation))
    return (typing.get_origin(annotation) or annotation), False


def problems(record: type[Record], columns: list[dict[str, Any]]) -> list[str]:
    """How `record` differs from its table's reflected `columns` (empty: it does not)."""
    table = {column["name"]: column for column in columns}
    hints = typing.get_type_hints(record)
    names = [f.name for f in fields(record)]  # type: ignore[arg-type]
    found = [f"{record.__name__}: no column {name}" for name in names if name not in table]
    found += [f"{record.__name__}: column {name} missing" for name in table if name not in names]
    kinds: dict[type, list[str]] = {}
    for name in (n for n in names if n in table):
        kind, optional = _python_type(hints[name])
        kinds.setdefault(kind, []).append(name)
        if optional != table[name]["nullable"]:
            found.append(f"{record.__name__}.{name}: nullable is {table[name]['nullable']} in the table")
        if kind is not kind_of(table[name]["type"]):
            found.append(f"{record.__name__}.{name}: {kind.__name__}, the column holds "
                         f"{kind_of(table[name]['type']).__name__}")
    for listed, kind in (("TIMESTAMPS", datetime), ("JSON", dict), ("FLAGS", bool)):
        if set(getattr(record, listed)) != set(kinds.get(kind, [])):
            found.append(f"{record.__name__}.{listed} is {getattr(record, listed)}, "
                         f"its {kind.__name__} columns are {kinds.get(kind, [])}")
    return found


def kind_of(column_type: Any) -> type:
    """The Python type a column holds (a JSON column, a dict here)."""
    if isinstance(column_type, TypeDecorator):  # UTCDateTime: what its implementation holds
        column_type = column_type.impl
    return dict if isinstance(column_type, JSON) else column_type.python_type


RECORDS = all_records()


def test_the_records_found_are_the_runtimes_rows() -> None:
    assert {r.TABLE for r in RECORDS} >= {"users", "api_keys", "chats", "messages", "sends", "model_pulls"}


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.__name__)
def test_each_record_matches_its_migrated_table(db_url: str, record: type[Record]) -> None:
    assert problems(record, inspect(get_engine(db_url)).get_columns(record.TABLE)) == []


def test_a_record_that_drifts_from_its_table_is_reported(db_url: str) -> None:
    """The check above fails for each kind of drift (a renamed column, a column left out,
    a wrong nullability or type, a datetime the reader would leave as text)."""
    from omnichat.auth.users import UserRow

    columns = inspect(get_engine(db_url)).get_columns("users")

    @dataclass
    class Renamed(Record):
        TABLE = "users"
        id: str
        mail: str
        name: str
        password_hash: str
        role: str
        created_at: datetime
        updated_at: datetime

    @dataclass
    class Drifted(Record):
        TABLE = "users"
        TIMESTAMPS = ("created_at",)
        id: str
        email: str | None
        name: int
        password_hash: str
        created_at: datetime
        updated_at: datetime

    assert problems(UserRow, columns) == []
    assert problems(Renamed, columns) == ["Renamed: no column mail", "Renamed: column email missing"]
    assert problems(Drifted, columns) == [
        "Drifted: column role missing", "Drifted.email: nullable is False in the table",
        "Drifted.name: int, the column holds str",
        "Drifted.TIMESTAMPS is ('created_at',), its datetime columns are ['created_at', 'updated_at']"]


def _plain_inserts() -> list[tuple[str, str, list[str]]]:
    """(module, table, columns) of every `<db>.insert("table", {"col": ...}, ...)` in the core."""
    found = []
    for module, tree in _core_modules().items():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "insert"
                    and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[1], ast.Dict)):
                keys = [k.value for k in node.args[1].keys if isinstance(k, ast.Constant)]
                found.append((module, node.args[0].value, keys))
    return found


def test_plain_inserts_name_real_columns_and_every_column_without_a_default() -> None:
    inserts = _plain_inserts()
    assert {table for _, table, _ in inserts} >= {"sessions", "ws_tickets", "connections", "usage", "streams"}
    for module, table, keys in inserts:
        columns = Base.metadata.tables[table].columns
        assert set(keys) <= set(columns.keys()), f"{module}: {table} has no {set(keys) - set(columns.keys())}"
        required = {c.name for c in columns if not c.nullable and c.server_default is None}
        assert required <= set(keys), f"{module}: an insert into {table} leaves out {required - set(keys)}"


def test_the_preset_links_name_their_tables_columns(db_url: str) -> None:
    """presets.Link reads and inserts through `self.table`, which the check above cannot
    read: each link's table holds exactly `preset_id` and its column."""
    inspector = inspect(get_engine(db_url))
    for link in presets.LINKS:
        assert {c["name"] for c in inspector.get_columns(link.table)} == {"preset_id", link.column}, link


def test_every_default_the_models_declare_is_in_the_database() -> None:
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if column.default is not None and not column.primary_key:
                assert column.server_default is not None, f"{table.name}.{column.name}"


def _minimal_row(table: Any, parents: dict[str, str], n: int) -> dict[str, Any]:
    """The columns an INSERT cannot leave out: not null, no server default."""
    values: dict[str, Any] = {}
    for column in table.columns:
        if column.nullable or column.server_default is not None:
            continue
        fk = next(iter(column.foreign_keys), None)
        kind = kind_of(column.type)
        if fk is not None:
            values[column.name] = parents[fk.column.table.name]
        elif kind is str:
            values[column.name] = f"{table.name}-{column.name}-{n}"[: column.type.length or 100]
        elif kind is int:
            values[column.name] = 1
        elif kind is datetime:
            values[column.name] = lite.utcnow()
        elif kind is dict:
            values[column.name] = {"v": 1}
    return values


def test_a_plain_insert_gets_the_defaults_an_orm_insert_would(db_url: str) -> None:
    """Every table, on both databases: a row that leaves out each defaulted column reads
    back with the model's default ('New chat', 0, false, '{}', 'queued', now ...)."""
    before = lite.utcnow() - timedelta(seconds=5)
    checked: list[str] = []

    def work(db: Db) -> None:
        parents: dict[str, str] = {}
        for n, table in enumerate(Base.metadata.sorted_tables):
            values = _minimal_row(table, parents, n)
            db.insert(table.name, values)
            key = [c.name for c in table.primary_key.columns]
            if len(key) == 1:
                parents[table.name] = values[key[0]]
            defaulted = [c for c in table.columns if c.server_default is not None]
            if not defaulted:  # nothing to read back (a link table such as preset_users)
                continue
            where = " AND ".join(f"{k} = ?" for k in key)
            row = db.execute(f"SELECT {', '.join(c.name for c in defaulted)} FROM {table.name} WHERE {where}",
                             *(values[k] for k in key)).fetchone()
            for column, value in zip(defaulted, row, strict=True):
                expected = column.default.arg
                if kind_of(column.type) is datetime:
                    if db._sqlite:  # the text SQLAlchemy writes, so text comparisons order times
                        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", value), value
                    assert before <= Db.timestamp(value) <= lite.utcnow() + timedelta(seconds=5)
                elif kind_of(column.type) is dict:
                    assert Db.json_value(value) == {}, f"{table.name}.{column.name}"
                elif kind_of(column.type) is bool:
                    assert bool(value) is expected, f"{table.name}.{column.name}"
                else:
                    assert value == expected, f"{table.name}.{column.name}: {value!r} != {expected!r}"
                checked.append(f"{table.name}.{column.name}")
        raise _RolledBack

    with pytest.raises(_RolledBack):
        lite.run(db_url, work)
    assert "chats.title" in checked and "model_pulls.status" in checked and len(checked) >= 40


class _RolledBack(Exception):
    """Ends the transaction: the rows were only for reading back."""


def test_a_new_chat_is_titled_once() -> None:
    assert Base.metadata.tables["chats"].columns["title"].default.arg == DEFAULT_TITLE
    migration = (MIGRATIONS / "0006_server_defaults.py").read_text()
    assert f"'title': \"'{DEFAULT_TITLE}'\"" in migration  # frozen history, as the constant was then


# -- the partial unique index of model_pulls --------------------------------------------------
def test_the_partial_index_predicate_is_written_once_in_code_and_as_it_was_in_the_migration() -> None:
    index = next(i for i in Base.metadata.tables["model_pulls"].indexes if i.name == "uq_model_pulls_active_model")
    assert str(index.dialect_options["postgresql"]["where"]) == ACTIVE_SQL
    assert str(index.dialect_options["sqlite"]["where"]) == ACTIVE_SQL
    assert f'ACTIVE = sa.text("{ACTIVE_SQL}")' in (MIGRATIONS / "0003_model_pulls.py").read_text()
    # No other copy in the code (frozen migrations aside).
    for path in [*CORE.rglob("*.py"), *(ROOT / "ollama_service").rglob("*.py")]:
        if "migrations" not in path.parts and path.name != "pulls.py":
            assert "'queued', 'running'" not in path.read_text(), path


def test_the_migrated_index_has_the_predicate_the_statements_name(db_url: str) -> None:
    """PostgreSQL accepts `ON CONFLICT (model) WHERE <predicate>` only when the predicate
    implies a unique index's; SQLite the same. A second active pull is then a no-op."""
    now = lite.utcnow()

    def work(db: Db) -> list[int]:
        counts = []
        for pull_id in ("p1", "p2"):
            counts.append(db.insert("model_pulls", {"id": pull_id, "model": "ollama/x:1b", "created_at": now,
                                                    "updated_at": now},
                                    f"ON CONFLICT (model) WHERE {ACTIVE_SQL} DO NOTHING").rowcount)
        if db._sqlite:
            (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'uq_model_pulls_active_model'").fetchone()
            assert sql.endswith(f"WHERE {ACTIVE_SQL}")
        else:  # the server's own rendering of both, compared
            (real,) = db.execute("SELECT pg_get_expr(indpred, indrelid) FROM pg_index"
                                 " WHERE indexrelid = 'uq_model_pulls_active_model'::regclass").fetchone()
            db.execute(f"CREATE UNIQUE INDEX contract_probe ON model_pulls (model) WHERE {ACTIVE_SQL}")
            (probe,) = db.execute("SELECT pg_get_expr(indpred, indrelid) FROM pg_index"
                                  " WHERE indexrelid = 'contract_probe'::regclass").fetchone()
            assert real == probe
        return counts

    def rolled_back(db: Db) -> None:
        assert work(db) == [1, 0]
        raise _RolledBack

    with pytest.raises(_RolledBack):
        lite.run(db_url, rolled_back)


def test_upgrading_to_0006_keeps_every_row(tmp_path: Path) -> None:
    """SQLite rebuilds the tables to add defaults; the DROP of a parent table must not
    cascade to its children (the migration environment turns foreign keys off meanwhile)."""
    from omnichat.db import migrate

    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrate.upgrade(url, "0005")
    now = lite.utcnow()

    def seed(db: Db) -> None:
        db.insert("users", {"id": "u", "email": "a@example.com", "name": "A", "password_hash": "h", "role": "user",
                            "created_at": now, "updated_at": now})
        db.insert("chats", {"id": "c", "user_id": "u", "title": "T", "pinned": False, "archived": False,
                            "params": {}, "message_count": 1, "created_at": now, "updated_at": now})
        db.insert("messages", {"id": "m", "chat_id": "c", "depth": 0, "role": "user", "content": "hi",
                               "status": "complete", "created_at": now, "updated_at": now})
        db.insert("sessions", {"id": "s", "user_id": "u", "created_at": now, "expires_at": now})

    lite.run(url, seed)
    migrate.upgrade(url, "0006")
    counts = lite.run(url, lambda db: [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                                       for t in ("users", "chats", "messages", "sessions")])
    assert (migrate.current(url), counts) == ("0006", [1, 1, 1, 1])
    with get_engine(url).connect() as conn:  # the engine's connections go on with foreign keys on
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    migrate.downgrade(url, "0005")
    assert lite.run(url, lambda db: db.execute("SELECT count(*) FROM messages").fetchone()[0]) == 1
