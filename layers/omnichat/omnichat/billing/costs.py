"""The usage view's cost report: calls, tokens and cost per user, group, model or API key
over a span of days, as rows or CSV. Costs are the usage rows' own (the prices of each
call's time), so changing a price never rewrites the past."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from omnichat.db.lite import Db

BY = ("user", "group", "model", "key")
COLUMNS = ("calls", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd")
_SUMS = ("count(*), COALESCE(SUM(u.input_tokens), 0), COALESCE(SUM(u.output_tokens), 0),"
         " COALESCE(SUM(u.cache_read_tokens), 0), COALESCE(SUM(u.cache_write_tokens), 0),"
         " COALESCE(SUM(u.cost_micros), 0)")
# by -> (the grouping key, its label, the joins that name it)
_GROUPINGS = {
    "user": ("u.user_id", "COALESCE(MAX(x.email), 'deleted user')", "LEFT JOIN users x ON x.id = u.user_id"),
    "model": ("u.model", "u.model", ""),
    "key": ("u.api_key_id", "COALESCE(MAX(x.name) || ' (' || MAX(o.email) || ')', 'no key (signed in)')",
            "LEFT JOIN api_keys x ON x.id = u.api_key_id LEFT JOIN users o ON o.id = x.user_id"),
    # A user in two groups counts in both; calls by users in none are 'no group'.
    "group": ("m.group_id", "COALESCE(MAX(x.name), 'no group')",
              "LEFT JOIN group_members m ON m.user_id = u.user_id LEFT JOIN groups x ON x.id = m.group_id"),
}


def totals(db: Db, since: datetime, by: str) -> list[dict[str, Any]]:
    """One row per user, group, model or key since `since`, the costliest first."""
    key, label, joins = _GROUPINGS[by]
    rows = db.execute(f"SELECT {key}, {label}, {_SUMS} FROM usage u {joins} WHERE u.created_at >= ?"
                      f" GROUP BY {key} ORDER BY 8 DESC, 3 DESC, 2", since).fetchall()
    return [{"id": row[0], "name": row[1], "calls": int(row[2]), "input_tokens": int(row[3]),
             "output_tokens": int(row[4]), "cache_read_tokens": int(row[5]), "cache_write_tokens": int(row[6]),
             "cost_usd": int(row[7]) / 1e6} for row in rows]


def to_csv(rows: list[dict[str, Any]], by: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([f"{by}_id", by, *COLUMNS])
    for row in rows:
        writer.writerow([row["id"] or "", _safe(str(row["name"])), *(
            f"{row[c]:.6f}" if c == "cost_usd" else row[c] for c in COLUMNS)])
    return out.getvalue()


def _safe(cell: str) -> str:
    """A spreadsheet would run a cell that starts like a formula: such a cell is quoted."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell
