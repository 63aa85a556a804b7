// The run list (GET /runs, and finished runs kept in Cassandra) and one run's history view.
// History comes from the /history routes (Cassandra); when one answers 404 or 503 the view says so
// and shows the live tables' copy where there is one.
import {lineChart} from "./charts.js";
import {clock, el, failure, fmt, getJson} from "./common.js";

const READING_PAGE = 1000;
const MAX_READINGS = 5000;          // a track of this many fixes is plenty for a picture
const CURSOR_PARAM = "after";       // how /history/.../readings takes its `next` back

export async function showRuns(view, device) {
  const live = el("div", {id: "runs-live"}, "loading…");
  const input = el("input", {id: "history-device", value: device, size: 16, "aria-label": "device id"});
  const stored = el("div", {id: "runs-history"});
  const listStored = (event) => { event?.preventDefault(); loadStored(stored, input.value.trim()); };
  view.replaceChildren(
    el("section", {}, el("h2", {}, "Runs"), el("p", {class: "hint"}, "Every run the workers hold now (GET /runs). ",
       "Open one for its summary, windows, track and alerts."), live),
    el("section", {}, el("h2", {}, "History (Cassandra)"),
       el("form", {onsubmit: listStored}, "device ", input, " ", el("button", {type: "submit"}, "list runs")), stored));
  listStored();
  const result = await getJson("/runs");
  if (!result.ok) { live.replaceChildren(el("p", {class: "problem"}, failure("The run list", result))); return; }
  live.replaceChildren(runTable(result.body.runs));
}

async function loadStored(target, device) {
  target.replaceChildren("loading…");
  const result = await getJson(`/history/runs?device_id=${encodeURIComponent(device)}`);
  target.replaceChildren(result.ok ? runTable(result.body.runs, device)
    : el("p", {class: "problem"}, failure("Stored runs", result)));
}

function runTable(runs, device) {
  if (!runs.length) return el("p", {class: "hint"}, "no runs");
  return el("table", {class: "runs"},
    el("thead", {}, el("tr", {}, ...["device", "run", "status", "readings", "distance m", "top speed m/s", "last reading"]
      .map((h) => el("th", {}, h)))),
    el("tbody", {}, ...runs.map((r) => {
      const deviceId = r.device_id ?? device;
      return el("tr", {dataset: {run: r.run_id}},
        el("td", {}, deviceId), el("td", {}, el("a", {href: `#/run/${deviceId}/${r.run_id}`}, r.run_id)),
        el("td", {}, r.silent ? "silent" : r.status ?? ""), el("td", {class: "num"}, fmt(r.readings)),
        el("td", {class: "num"}, fmt(r.motion?.distance_m ?? r.distance_m)),
        el("td", {class: "num"}, fmt(r.motion?.top_speed_mps ?? r.top_speed_mps, 2)), el("td", {}, clock(r.last_t)));
    })));
}

/** Ask the history route; if it fails (or `complete` finds its answer partial), say why and ask the
 * live route (when there is one) instead. */
async function historyOrLive(what, historyUrl, liveUrl, complete = () => true) {
  const stored = await getJson(historyUrl);
  if (stored.ok && complete(stored.body)) return {body: stored.body, note: null};
  const note = stored.ok ? `${what}: the history has no copy of it yet` : failure(`${what} from history`, stored);
  if (!liveUrl) return {body: null, note};
  const live = await getJson(liveUrl);
  return live.ok ? {body: live.body, note: `${note}. Showing the live tables' copy.`}
    : {body: null, note: `${note}; ${failure("the live tables", live)}`};
}

export async function showRun(view, deviceId, runId) {
  const base = `${encodeURIComponent(deviceId)}/${encodeURIComponent(runId)}`;
  const section = (id, title) => el("section", {id}, el("h3", {}, title), el("p", {}, "loading…"));
  view.replaceChildren(
    el("p", {}, el("a", {href: "#/runs"}, "← runs")),
    el("h2", {}, `Run ${deviceId} / ${runId}`),
    section("run-summary", "Summary"), section("run-track", "Track"),
    section("run-windows", "Windows"), section("run-alerts", "Alerts"));
  const fill = (id, {body, note}, render) => {
    const target = view.querySelector(`#${id}`);
    target.replaceChildren(target.firstChild, ...(note ? [el("p", {class: "problem"}, note)] : []),
                           ...(body ? [render(body)] : []));
  };
  const jobs = [
    historyOrLive("The summary", `/history/${base}/summary`, `/runs/${base}`, (body) => "readings" in body)
      .then((r) => fill("run-summary", r, summaryCards)),
    historyOrLive("The windows", `/history/${base}/windows`, `/runs/${base}/windows?last=1000`,
                  (body) => body.windows.length > 0)
      .then((r) => fill("run-windows", r, (body) => windowsChart(body.windows))),
    historyOrLive("The alerts", `/history/${base}/alerts`, `/alerts/${base}`)
      .then((r) => fill("run-alerts", r, (body) => alertList(body.alerts ?? body))),
    storedReadings(base).then((r) => fill("run-track", r, track)),
  ];
  await Promise.all(jobs);
}

function summaryCards(s) {
  const m = s.motion ?? {};
  const cards = [["readings", fmt(s.readings)], ["status", s.silent ? "silent" : s.status],
                 ["duration", `${fmt(s.duration_s)} s`], ["alerts", fmt(s.alerts)]];
  if (s.motion) {
    cards.push(["distance", `${fmt(m.distance_m)} m`], ["top speed", `${fmt(m.top_speed_mps, 2)} m/s`],
               ["HSR distance", `${fmt(m.hsr_distance_m)} m`], ["sprints", fmt(m.sprints)],
               ["accelerations", fmt(m.accelerations)], ["decelerations", fmt(m.decelerations)]);
  }
  return el("div", {class: "cards", dataset: {distance: m.distance_m ?? "", readings: s.readings}},
    ...cards.map(([label, value]) => el("div", {class: "card"}, el("span", {}, label), el("b", {}, value))));
}

function windowsChart(windows) {
  if (!windows.length) return el("p", {class: "hint"}, "no windows");
  const fields = ["count", ...Object.keys(windows[0]).filter((k) => k.endsWith("_avg") && k !== "timestamp_avg")];
  const select = el("select", {"aria-label": "window field"}, ...fields.map((f) => el("option", {value: f}, f)));
  const chart = el("svg", {class: "chart"});
  const draw = () => lineChart(chart, windows.map((w) => [w.window_end, w[select.value]]).filter(([, v]) => v !== null),
                               {yLabel: select.value, xFormat: clock, yMin: 0});
  select.addEventListener("change", draw);
  draw();
  return el("div", {}, el("label", {}, `${windows.length} windows; field `, select), chart);
}

function alertList(alerts) {
  if (!alerts.length) return el("p", {class: "hint"}, "no alerts");
  return el("ol", {class: "alerts"}, ...alerts.map((a) => el("li", {class: `alert ${a.type}`},
    el("time", {}, clock(a.t)), ` ${a.type}`, a.field ? ` ${a.field} = ${fmt(a.value, 2)}` : "",
    a.silent_seconds ? ` (${fmt(a.silent_seconds, 1)} s silent)` : "")));
}

/** The run's readings from history, page by page up to MAX_READINGS. */
async function storedReadings(base) {
  const readings = [];
  let next = null;
  do {
    const query = `limit=${READING_PAGE}${next === null ? "" : `&${CURSOR_PARAM}=${encodeURIComponent(next)}`}`;
    const page = await getJson(`/history/${base}/readings?${query}`);
    if (!page.ok) return {body: readings.length ? readings : null, note: failure("The readings from history", page)};
    readings.push(...page.body.readings);
    next = page.body.next;
  } while (next !== null && next !== undefined && readings.length < MAX_READINGS);
  return {body: readings, note: null};
}

/** The run's path in metres, north up, with a 10 m scale bar. */
function track(readings) {
  const fixes = readings.map((r) => r.data).filter((d) => typeof d.latitude === "number" || typeof d.x === "number");
  if (fixes.length < 2) return el("p", {class: "hint"}, `${readings.length} readings, no positions to draw`);
  const lat0 = fixes[0].latitude, lon0 = fixes[0].longitude;
  const xy = fixes.map((d) => d.x !== undefined ? [d.x, -d.y]
    : [(d.longitude - lon0) * 111_320 * Math.cos(lat0 * Math.PI / 180), -(d.latitude - lat0) * 110_574]);
  const xs = xy.map((p) => p[0]), ys = xy.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const pad = Math.max(x1 - x0, y1 - y0, 10) * 0.08;
  const svg = el("svg", {class: "track", viewBox: `${x0 - pad} ${y0 - pad} ${x1 - x0 + 2 * pad} ${y1 - y0 + 3 * pad}`},
    el("polyline", {points: xy.map(([x, y]) => `${x.toFixed(2)},${y.toFixed(2)}`).join(" ")}),
    el("line", {x1: x0, x2: x0 + 10, y1: y1 + 1.5 * pad, y2: y1 + 1.5 * pad, class: "scale"}));
  return el("div", {}, el("p", {class: "hint"}, `${fixes.length} fixes (north up; the bar is 10 m)`), svg);
}
