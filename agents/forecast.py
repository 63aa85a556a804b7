"""Short-horizon forecasts of a run's numeric fields: Holt's linear (additive-trend) exponential
smoothing on irregular time stamps, pure functions, no Kafka (the method: docs/maths.md#forecasts).

Each forecast field keeps a small JSON state: the level and trend of a fixed grid of (alpha, beta)
models, each model's discounted sum of squared one-step errors (the model with the smallest one
answers; old errors fade, so the start-up's large ones stop counting and the choice adapts), and
the forecasts issued and not yet scored. Irregular spacing is handled in time, not by resampling:
alpha and beta are the weights of a reading that arrives after the run's mean interval, and a gap
of k mean intervals weighs as k steps (1 - (1 - alpha) ** k).

`field_add` is the per-reading reference; `field_add_burst` applies a sorted burst at once in numpy
(the affine recurrence as a prefix scan), equal to it to 1e-9 (tests/unit/test_forecast.py).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from agents.stats import Columns, is_numeric
from sports_prophet.config import settings

ALPHAS = (0.1, 0.3, 0.6, 0.9)
BETAS = (0.02, 0.1, 0.3)
GRID = tuple((a, b) for a in ALPHAS for b in BETAS)
GRID_ALPHA = np.array([a for a, _ in GRID])
GRID_BETA = np.array([b for _, b in GRID])
Z = {"80": 1.2815515655446004, "95": 1.959963984540054}     # two-sided normal quantiles
MIN_ERRORS = 2            # one-step errors needed before a forecast has an interval
FORGET = 0.995            # each one-step error's weight decays by this per later observation (~200 kept)
MAX_PENDING = 64          # issued forecasts awaiting their target per field; older ones go unscored
SEQUENTIAL_MAX = 24       # bursts up to this long: field_add per observation beats numpy's set-up (measured)
DISTANCE = "distance_m"   # the derived field of positional runs: the motion summary's distance ...
DISTANCE_EVERY_S = 1.0    # ... sampled at the first fix of each second (10-50 Hz would cost 10-50 times more)

State = dict[str, Any]


def field_initial() -> State:
    return {"n": 0, "t0": None, "last_t": None, "last_y": None, "level": [], "trend": [],
            "errors": 0, "weight": 0.0, "sse": [0.0] * len(GRID), "pending": [],
            "scored": {"count": 0, "abs_error": 0.0, "naive_abs_error": 0.0, "in_80": 0, "in_95": 0}}


def mean_interval(state: State) -> float:
    """The mean spacing of the field's observations so far: the time one smoothing step stands for."""
    return (state["last_t"] - state["t0"]) / (state["n"] - 1)


def score(pending: dict[str, Any], t: float, realised: float) -> dict[str, Any]:
    """An issued forecast with what then arrived: the first observation at or after its target time
    (an observation, noise and all, not an interpolation, which would average the noise away and
    flatter the intervals)."""
    return {**pending, "realised_t": t, "realised": realised, "abs_error": abs(realised - pending["forecast"]),
            "naive_abs_error": abs(realised - pending["naive"]),
            "in_80": pending["lower_80"] <= realised <= pending["upper_80"],
            "in_95": pending["lower_95"] <= realised <= pending["upper_95"]}


def tally(scored: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"count": scored["count"] + len(rows),
            "abs_error": scored["abs_error"] + sum(r["abs_error"] for r in rows),
            "naive_abs_error": scored["naive_abs_error"] + sum(r["naive_abs_error"] for r in rows),
            "in_80": scored["in_80"] + sum(r["in_80"] for r in rows),
            "in_95": scored["in_95"] + sum(r["in_95"] for r in rows)}


def field_add(state: State, t: float, y: float) -> tuple[State, list[dict[str, Any]]]:
    """Fold one observation in; returns the state and the issued forecasts it scored. An observation
    at or before the field's latest time (late, or a duplicate stamp) is left out: the recursion
    runs forward in time only."""
    n = state["n"]
    if n and t <= state["last_t"]:
        return state, []
    if n == 0:        # level: the first value; trend: none yet (a two-point slope of noisy values
        k = len(GRID)  # was far worse: small trend weights take hundreds of steps to forget it)
        return {**state, "n": 1, "t0": t, "last_t": t, "last_y": y, "level": [y] * k, "trend": [0.0] * k}, []
    dt = t - state["last_t"]
    steps = 1.0 if n == 1 else dt / mean_interval(state)
    level, trend, sse = [], [], []
    for (alpha, beta), old_level, old_trend, old_sse in zip(GRID, state["level"], state["trend"], state["sse"]):
        a = 1.0 - (1.0 - alpha) ** steps
        c = (1.0 - (1.0 - beta) ** steps) * a / dt
        error = y - (old_level + old_trend * dt)
        level.append((1.0 - a) * old_level + (1.0 - a) * dt * old_trend + a * y)
        trend.append(-c * old_level + (1.0 - c * dt) * old_trend + c * y)
        sse.append(FORGET * old_sse + error * error)
    rows = [score(p, t, y) for p in state["pending"] if p["target_t"] <= t]
    return {**state, "n": n + 1, "last_t": t, "last_y": y, "level": level, "trend": trend,
            "errors": state["errors"] + 1, "weight": FORGET * state["weight"] + 1.0, "sse": sse,
            "pending": [p for p in state["pending"] if p["target_t"] > t], "scored": tally(state["scored"], rows)}, rows


def field_add_burst(state: State, ts: np.ndarray, ys: np.ndarray) -> tuple[State, list[dict[str, Any]]]:
    """`field_add` for a burst sorted by time, in numpy: the per-step update is affine in (level,
    trend), s_i = M_i s_(i-1) + v_i, so all steps of all grid models come from one prefix scan of
    the maps (log2(n) rounds), then the one-step errors from the states before each step. A short
    burst is folded one observation at a time: below SEQUENTIAL_MAX that is the cheaper way."""
    scored: list[dict[str, Any]] = []
    if len(ts) <= SEQUENTIAL_MAX:
        for t, y in zip(ts.tolist(), ys.tolist()):
            state, rows = field_add(state, t, y)
            scored += rows
        return state, scored
    i = 0
    while state["n"] < 2 and i < len(ts):           # the first observation sets the level, the second the step
        state, rows = field_add(state, float(ts[i]), float(ys[i]))
        scored += rows
        i += 1
    ts, ys = ts[i:], ys[i:]
    if len(ts) == 0:
        return state, scored
    keep = ts > np.maximum(state["last_t"], np.concatenate(([-math.inf], ts[:-1])))   # ts is sorted
    ts, ys = ts[keep], ys[keep]
    m = len(ts)
    if m == 0:
        return state, scored
    n = state["n"]
    prev_t = np.concatenate(([state["last_t"]], ts[:-1]))
    dt = ts - prev_t
    steps = dt / ((prev_t - state["t0"]) / (n - 1 + np.arange(m)))
    a = 1.0 - (1.0 - GRID_ALPHA[None, :]) ** steps[:, None]          # (m, K)
    c = (1.0 - (1.0 - GRID_BETA[None, :]) ** steps[:, None]) * a / dt[:, None]
    d = dt[:, None]
    # The maps M = [[m00, m01], [m10, m11]], v = [v0, v1], composed F_i = f_i ∘ F_(i-1) by doubling.
    m00, m01, m10, m11 = 1.0 - a, (1.0 - a) * d, -c, 1.0 - c * d
    v0, v1 = a * ys[:, None], c * ys[:, None]
    shift = 1
    while shift < m:
        p00, p01, p10, p11, q0, q1 = (x[:-shift] for x in (m00, m01, m10, m11, v0, v1))
        h00, h01, h10, h11, w0, w1 = (x[shift:] for x in (m00, m01, m10, m11, v0, v1))
        m00, m01, m10, m11, v0, v1 = (
            np.concatenate((x[:shift], y)) for x, y in (
                (m00, h00 * p00 + h01 * p10), (m01, h00 * p01 + h01 * p11),
                (m10, h10 * p00 + h11 * p10), (m11, h10 * p01 + h11 * p11),
                (v0, h00 * q0 + h01 * q1 + w0), (v1, h10 * q0 + h11 * q1 + w1)))
        shift *= 2
    level0, trend0 = np.array(state["level"]), np.array(state["trend"])
    level = m00 * level0 + m01 * trend0 + v0                         # (m, K): the state after each step
    trend = m10 * level0 + m11 * trend0 + v1
    before_level = np.vstack((level0, level[:-1]))
    before_trend = np.vstack((trend0, trend[:-1]))
    errors = ys[:, None] - (before_level + before_trend * d)
    decay = FORGET ** np.arange(m - 1, -1, -1.0)                   # the weight of each error at the end
    sse = FORGET ** m * np.array(state["sse"]) + decay @ (errors * errors)
    pending = state["pending"]
    targets = np.array([p["target_t"] for p in pending])
    at = np.searchsorted(ts, targets, side="left") if pending else np.zeros(0, dtype=int)
    rows = [score(p, float(ts[j]), float(ys[j]))
            for j, p in sorted(((j, p) for j, p in zip(at.tolist(), pending) if j < m), key=lambda jp: jp[0])]
    return {**state, "n": n + m, "last_t": float(ts[-1]), "last_y": float(ys[-1]), "level": level[-1].tolist(),
            "trend": trend[-1].tolist(), "errors": state["errors"] + m,
            "weight": FORGET ** m * state["weight"] + float(decay.sum()), "sse": sse.tolist(),
            "pending": [p for p, j in zip(pending, at.tolist()) if j >= m],
            "scored": tally(state["scored"], rows)}, scored + rows


def best_model(state: State) -> int:
    """The grid model with the smallest discounted sum of squared one-step errors (the first of equals)."""
    return int(np.argmin(state["sse"]))


def horizon_variance(sigma2: float, alpha: float, beta: float, h: float) -> float:
    """The forecast error variance h steps ahead of Holt's linear method (Hyndman et al., Forecasting
    with Exponential Smoothing, 2008, class 1; their beta is alpha * beta here); h below one step is
    taken as one."""
    h = max(h, 1.0)
    b = alpha * beta
    return sigma2 * (1.0 + (h - 1.0) * (alpha * alpha + alpha * b * h + b * b * h * (2.0 * h - 1.0) / 6.0))


def forecast(state: State, horizon_s: float) -> dict[str, Any] | None:
    """The point forecast `horizon_s` after the field's latest observation, with 80 % and 95 %
    intervals and the model that made it; None before MIN_ERRORS one-step errors exist."""
    if state["errors"] < MIN_ERRORS:
        return None
    i = best_model(state)
    alpha, beta = GRID[i]
    step = mean_interval(state)
    sigma2 = state["sse"][i] / state["weight"]
    point = state["level"][i] + state["trend"][i] * horizon_s
    spread = math.sqrt(horizon_variance(sigma2, alpha, beta, horizon_s / step))
    bounds = {f"{side}_{p}": point + sign * z * spread
              for p, z in Z.items() for side, sign in (("lower", -1.0), ("upper", 1.0))}
    return {"issued_at": state["last_t"], "horizon_s": horizon_s, "target_t": state["last_t"] + horizon_s,
            "forecast": point, **bounds, "naive": state["last_y"],
            "model": {"alpha": alpha, "beta": beta, "level": state["level"][i], "trend_per_s": state["trend"][i],
                      "sigma": math.sqrt(sigma2), "step_s": step},
            "observations": state["n"]}


def issue(state: State, horizon_s: float) -> tuple[State, dict[str, Any] | None]:
    """Issue a forecast to be scored when its target time's observation arrives: at most one per
    latest observation and horizon, at most MAX_PENDING waiting (the oldest is dropped)."""
    issued = forecast(state, horizon_s)
    if issued is None or any(p["issued_at"] == issued["issued_at"] and p["horizon_s"] == horizon_s
                             for p in state["pending"]):
        return state, None
    pending = {k: v for k, v in issued.items() if k != "model"}
    pending.update(alpha=issued["model"]["alpha"], beta=issued["model"]["beta"])
    return {**state, "pending": [*state["pending"], pending][-MAX_PENDING:]}, pending


def scores(state: State) -> dict[str, Any]:
    """The field's forecasts scored so far: MAE against the naive last value's, interval coverage."""
    s = state["scored"]
    n = s["count"]
    return {"count": n, "mae": s["abs_error"] / n if n else None,
            "naive_mae": s["naive_abs_error"] / n if n else None,
            "coverage_80": s["in_80"] / n if n else None, "coverage_95": s["in_95"] / n if n else None}


# ------------------------------------------------------------------ a run's forecast fields

def run_fields(config: dict[str, Any]) -> tuple[list[str], float]:
    """The fields a run's config asks forecasts of, and the horizon of the forecasts it issues."""
    wanted = config.get("forecast") or {}
    return list(wanted.get("fields", [])), float(wanted.get("horizon_s", settings.forecast_horizon_seconds))


def labelled(field: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"field": field, **row} for row in rows]


def add_reading(forecasts: dict[str, State], fields: list[str], t: float,
                measured: dict[str, Any]) -> tuple[dict[str, State], list[dict[str, Any]]]:
    """One reading's configured fields folded in (the per-reading reference path)."""
    out: list[dict[str, Any]] = []
    for name in fields:
        value = measured.get(name)
        if is_numeric(value):
            forecasts[name], rows = field_add(forecasts.get(name) or field_initial(), t, float(value))
            out += labelled(name, rows)
    return forecasts, out


def add_columns(forecasts: dict[str, State], fields: list[str], ts: np.ndarray,
                columns: Columns) -> tuple[dict[str, State], list[dict[str, Any]]]:
    """A burst's configured fields folded in at once (`add_reading` for every reading)."""
    out: list[dict[str, Any]] = []
    for name in fields:
        if name in columns:
            rows, values = columns[name]
            forecasts[name], scored = field_add_burst(forecasts.get(name) or field_initial(), ts[rows], values)
            out += labelled(name, scored)
    return forecasts, out


def issue_all(forecasts: dict[str, State], horizon_s: float) -> tuple[dict[str, State], list[dict[str, Any]]]:
    """Issue each field's forecast (at every closed window: see run_state)."""
    out: list[dict[str, Any]] = []
    for name in sorted(forecasts):
        forecasts[name], row = issue(forecasts[name], horizon_s)
        if row is not None:
            out.append({"field": name, **row})
    return forecasts, out


def in_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The forecast rows one record produced, in one order whichever path made them."""
    return sorted(rows, key=lambda r: (r["field"], "realised" not in r, r["issued_at"], r["horizon_s"]))


def distance_due(forecasts: dict[str, State], t: float) -> bool:
    """Whether a fix at `t` is the first of a new DISTANCE_EVERY_S period for the distance forecast."""
    last = (forecasts.get(DISTANCE) or {}).get("last_t")
    return last is None or math.floor(t / DISTANCE_EVERY_S) > math.floor(last / DISTANCE_EVERY_S)


def distance_samples(forecasts: dict[str, State], ts: np.ndarray) -> np.ndarray:
    """`distance_due` for a burst's sorted fix times at once, as a mask."""
    periods = np.floor(ts / DISTANCE_EVERY_S)
    last = (forecasts.get(DISTANCE) or {}).get("last_t")
    since = -math.inf if last is None else math.floor(last / DISTANCE_EVERY_S)
    return periods > np.maximum(since, np.concatenate(([-math.inf], periods[:-1])))
