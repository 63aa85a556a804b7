"""The forecasts archive: the run agent's forecast rows as idempotent CQL (table: cql/schema.cql).

A forecast is written twice under one deterministic key (run, field, issued_at, horizon): when it is
issued, and when its target's observation scores it. Each write sets only its own columns, so the
two may land in either order, or be replayed, and the row ends the same.
"""

from __future__ import annotations

from typing import Any

from cql.archive import Write, ms

FORECAST_OUTPUTS = ("forecast",)

KEY = "device_id, run_id, field, issued_at, horizon_s"
INSERT_ISSUED = (f"INSERT INTO {{ks}}.forecasts ({KEY}, target_t, forecast, lower_80, upper_80, lower_95, upper_95, "
                 "naive, alpha, beta, observations) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_SCORED = (f"INSERT INTO {{ks}}.forecasts ({KEY}, realised_t, realised, abs_error, naive_abs_error, in_80, "
                 "in_95) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def forecast_writes(value: dict[str, Any]) -> list[Write]:
    """The row of one `forecast` record of the run agent's outputs topic: an issue or a score."""
    row = value["row"]
    key = (value["device_id"], value["run_id"], row["field"], ms(row["issued_at"]), row["horizon_s"])
    if "realised" in row:
        cql, params = INSERT_SCORED, (ms(row["realised_t"]), row["realised"], row["abs_error"],
                                      row["naive_abs_error"], row["in_80"], row["in_95"])
    else:
        cql, params = INSERT_ISSUED, (ms(row["target_t"]), row["forecast"], row["lower_80"], row["upper_80"],
                                      row["lower_95"], row["upper_95"], row["naive"], row["alpha"], row["beta"],
                                      row["observations"])
    return [Write(cql, key + params, ("forecasts", *key[:2]), (*key[2:], cql is INSERT_SCORED))]
