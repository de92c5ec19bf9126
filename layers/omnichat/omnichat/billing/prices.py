"""What a model call costs, at the prices the admin set (`model_prices`).

Prices are per provider model (`bedrock/…`, `ollama/…`): a preset costs what its base
model costs, a fallback what the model that answered costs. A token model is priced in
USD per million tokens of each kind (input, output, cache read, cache write); an Ollama
model may instead be priced per GPU-hour, charged for the call's duration. A model with
no price costs nothing (token limits still apply). Costs are whole millionths of a USD
(`micros`), rounded up: a priced call never costs 0."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omnichat.db.lite import Db, Record, utcnow
from omnichat.errors import BadRequest, NotFound

MAX_PRICE = 10_000.0  # USD per million tokens or per GPU-hour: more is a typo, not a price
# A reservation for a GPU-hour priced call: its output at this speed, at least MIN_SECONDS.
GPU_TOKENS_PER_S = 20.0
MIN_SECONDS = 5.0
FIELDS = ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok", "gpu_hour")


@dataclass
class PriceRow(Record):
    TABLE = "model_prices"
    TIMESTAMPS = ("updated_at",)

    model: str
    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float
    cache_write_per_mtok: float
    gpu_hour: float | None
    updated_at: datetime

    def cost_micros(self, input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0,
                    duration_ms: float = 0.0) -> int:
        if self.gpu_hour is not None:
            usd = self.gpu_hour * duration_ms / 3_600_000
        else:
            usd = (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok
                   + cache_read * self.cache_read_per_mtok + cache_write * self.cache_write_per_mtok) / 1e6
        return math.ceil(round(usd * 1e6, 6))

    def estimate_micros(self, input_tokens: int, output_tokens: int) -> int:
        """The most a call of this size should cost: what a reservation holds."""
        seconds = max(MIN_SECONDS, output_tokens / GPU_TOKENS_PER_S)
        return self.cost_micros(input_tokens, output_tokens, duration_ms=seconds * 1000)


def of(db: Db, models: list[str]) -> dict[str, PriceRow]:
    wanted = sorted(set(models))
    if not wanted:
        return {}
    found = PriceRow.select(db, f"WHERE model IN ({', '.join('?' * len(wanted))})", *wanted)
    return {p.model: p for p in found}


# The prices of some models as one JSON value (an array of rows, in PriceRow's order, or
# NULL), for a statement that does more in the same round trip (reservations.py). PostgreSQL
# only; its JSON keeps each float exact (shortest round-trip digits).
JSON_SQL = ("(SELECT json_agg(json_build_array(model, input_per_mtok, output_per_mtok, cache_read_per_mtok,"
            " cache_write_per_mtok, gpu_hour, updated_at)) FROM model_prices WHERE model IN ({marks}))")


def json_sql(models: list[str]) -> tuple[str, list[str]]:
    """JSON_SQL for these models, and its parameters (read the value with `of_json`)."""
    wanted = sorted(set(models)) or [""]
    return JSON_SQL.format(marks=", ".join("?" * len(wanted))), wanted


def of_json(value: Any) -> dict[str, PriceRow]:
    rows = Db.json_value(value) or []
    return {row[0]: PriceRow.read(row) for row in rows}


def call_cost(db: Db, model: str, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int,
              duration_ms: float) -> int:
    price = of(db, [model]).get(model)
    return 0 if price is None else price.cost_micros(input_tokens, output_tokens, cache_read, cache_write,
                                                     duration_ms)


def list_all(db: Db) -> list[PriceRow]:
    return PriceRow.select(db, "ORDER BY model")


def checked(values: dict[str, float | None]) -> dict[str, float | None]:
    """The five prices, each a finite number from 0 to MAX_PRICE (gpu_hour may be null)."""
    clean: dict[str, float | None] = {}
    for name in FIELDS:
        value = values.get(name)
        if value is None:
            if name != "gpu_hour":
                value = 0.0
            clean[name] = value
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or not 0 <= value <= MAX_PRICE:
            raise BadRequest(f"{name}: a price from 0 to {MAX_PRICE:g} USD", code="invalid_price")
        clean[name] = float(value)
    return clean


def set_price(db: Db, model: str, values: dict[str, float | None]) -> PriceRow:
    provider, _, name = model.partition("/")
    if provider not in ("ollama", "bedrock") or not name or len(model) > 300:
        raise BadRequest("model: a provider model id, ollama/<name> or bedrock/<id> (a preset costs what its"
                         " base model costs)", code="invalid_model")
    clean = checked(values)
    if clean["gpu_hour"] is not None and provider != "ollama":
        raise BadRequest("gpu_hour: only Ollama models are priced per GPU-hour", code="invalid_price")
    row = PriceRow(model=model, updated_at=utcnow(), **clean)  # type: ignore[arg-type]
    db.execute("DELETE FROM model_prices WHERE model = ?", model)
    row.insert(db)
    return row


def delete_price(db: Db, model: str) -> None:
    if db.execute("DELETE FROM model_prices WHERE model = ?", model).rowcount != 1:
        raise NotFound(f"No price is set for {model}", code="price_not_found")
