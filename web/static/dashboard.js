// The live view: players on the pitch and in the table, one player's speed, alerts, match events.
// Everything arrives on one WebSocket (WS /live): run summaries as they change, the match's events
// and its state (score, stats, win probability: match.js).
import {PitchFit, drawPitch, lineChart} from "./charts.js";
import {clock, el, fmt, getJson, playerOf} from "./common.js";
import {showRun, showRuns} from "./history.js";
import {renderMatch} from "./match.js";

const params = new URLSearchParams(location.search);
const DEVICE = params.get("device") || "gps_match";     // players are runs of this device
const SPEED_POINTS = 3000;                              // speed history kept per player
const ZONE_NAMES = ["walk", "jog", "run", "HSR", "sprint"];

const state = {
  runs: new Map(),          // run id -> latest summary (this device's runs only)
  speeds: new Map(),        // run id -> [[t, speed m/s], ...] since the page opened
  alerts: new Map(),        // "<run>/<seq>" -> alert, of the selected match's players
  alertCounts: new Map(),   // run id -> alert count last fetched
  match: params.get("match"),
  selected: null,
  events: [],
  fit: new PitchFit(),
  socket: null,
};

const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ the socket

function connect(delay = 1000) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/live?device_id=${encodeURIComponent(DEVICE)}`);
  state.socket = socket;
  setConnection("connecting");
  socket.onopen = () => {
    setConnection("live");
    delay = 1000;
    if (state.match) follow(state.match);
  };
  socket.onmessage = (message) => receive(JSON.parse(message.data));
  socket.onclose = () => {
    setConnection("reconnecting");
    setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
  };
}

function setConnection(status) {
  const badge = $("connection");
  badge.dataset.state = status;
  badge.textContent = {connecting: "connecting…", live: "● live", reconnecting: "reconnecting…"}[status];
}

function follow(match) {
  if (state.socket?.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify({type: "follow", match}));
}

function receive(message) {
  if (message.type === "runs") {
    for (const summary of Object.values(message.runs)) updateRun(summary);
    const badge = $("connection");
    badge.dataset.updatedAt = Date.now();
    badge.title = `last update ${new Date().toLocaleTimeString()}`;
    scheduleRender();
  } else if (message.type === "match" && message.match.match_id === state.match) {
    renderMatch(message.match);
  } else if (message.type === "events" && message.match === state.match) {
    if (message.reset) state.events = [];
    state.events.push(...message.events);
    renderEvents();
  } else if (message.type === "error") {
    $("events-status").textContent = `${message.error} ${message.detail ?? ""}`;
  }
}

let renderPending = false;

/** Render at most once a frame: on a busy machine summaries arrive faster than the page paints,
 * and rendering each one would queue work without end (the page falling ever further behind). */
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    refreshMatches();
    renderLive();
  });
}

function updateRun(summary) {
  const id = summary.run_id, t = summary.last_position?.t, speed = summary.motion?.speed_mps;
  state.runs.set(id, summary);
  if (t !== undefined && speed !== undefined) {
    const series = state.speeds.get(id) ?? [];
    if (!series.length || t > series[series.length - 1][0]) series.push([t, speed]);
    state.speeds.set(id, series.slice(-SPEED_POINTS));
  }
  checkAlerts(summary);
}

/** A player's alert count went up: read its alerts (pushed summaries carry only the count). */
async function checkAlerts(summary) {
  const id = summary.run_id;
  if (playerOf(id)?.match !== state.match || summary.alerts <= (state.alertCounts.get(id) ?? 0)) return;
  state.alertCounts.set(id, summary.alerts);
  const result = await getJson(`/alerts/${summary.device_id}/${id}`);
  if (!result.ok || playerOf(id).match !== state.match) return;
  for (const alert of result.body.alerts) state.alerts.set(`${alert.run_id}/${alert.seq}`, alert);
  renderAlerts();
}

// ------------------------------------------------------------------ match choice

function matchesSeen() {
  const latest = new Map();
  for (const summary of state.runs.values()) {
    const player = playerOf(summary.run_id);
    if (player) latest.set(player.match, Math.max(latest.get(player.match) ?? 0, summary.last_t ?? 0));
  }
  return [...latest.entries()].sort((a, b) => b[1] - a[1]).map(([match]) => match);
}

function refreshMatches() {
  const matches = matchesSeen();
  if (!state.match && matches.length) chooseMatch(matches[0]);
  const select = $("match-select");
  const wanted = [...new Set([state.match, ...matches].filter(Boolean))];
  if (wanted.join() !== [...select.options].map((o) => o.value).join()) {
    select.replaceChildren(...wanted.map((m) => el("option", {value: m}, m)));
    select.value = state.match;
  }
}

function chooseMatch(match) {
  state.match = match;
  state.events = [];
  state.selected = null;
  state.fit = new PitchFit();
  state.alerts.clear();
  state.alertCounts.clear();
  for (const summary of state.runs.values()) checkAlerts(summary);
  renderAlerts();
  $("players-layer").replaceChildren();
  $("players-body").replaceChildren();
  const url = new URL(location.href);
  url.searchParams.set("match", match);
  history.replaceState(null, "", url);
  follow(match);
  renderEvents();
  renderLive();
}

/** The selected match's players, home side first; `side` is "home" for the lower team number. */
function players() {
  const list = [...state.runs.values()]
    .map((summary) => ({summary, ...playerOf(summary.run_id)}))
    .filter((p) => p.match === state.match && p.match !== undefined)
    .sort((a, b) => a.team - b.team || a.number - b.number);
  const home = list.length ? list[0].team : null;
  return list.map((p) => ({...p, side: p.team === home ? "home" : "away"}));
}

// ------------------------------------------------------------------ rendering

function position(summary) {
  const pos = summary.last_position, [a, b] = summary.position_fields ?? [];
  if (!pos) return null;
  return a === "x" ? {x: pos.x, y: pos.y} : {lat: pos[a], lon: pos[b]};
}

function renderLive() {
  const list = players();
  $("players-count").textContent = list.length ? `${list.length} players` : "";
  $("pitch-empty").hidden = list.length > 0;
  const placed = list.map((p) => ({...p, pos: position(p.summary)})).filter((p) => p.pos);
  if (placed.length) state.fit.update(placed.map((p) => ({...p.pos, home: p.side === "home"})));
  for (const p of placed) renderDot(p);
  for (const p of list) renderRow(p);
  renderSpeed();
}

function renderDot({summary, side, number, pos}) {
  const id = summary.run_id;
  let dot = document.getElementById(`dot-${id}`);
  if (!dot) {
    dot = el("g", {id: `dot-${id}`, dataset: {run: id}, onclick: () => select(id)},
             el("circle", {r: 1.9}), el("text", {y: 0.75, "text-anchor": "middle"}, String(number)), el("title", {}, id));
    $("players-layer").append(dot);
  }
  const [x, y] = state.fit.place(pos);
  dot.setAttribute("transform", `translate(${x.toFixed(2)} ${y.toFixed(2)})`);
  Object.assign(dot.dataset, {x: x.toFixed(2), y: y.toFixed(2), t: summary.last_position.t,
                              lat: pos.lat ?? pos.x, lon: pos.lon ?? pos.y});
  dot.setAttribute("class", `player ${side}${marks(summary)}`);
}

function renderRow({summary, side, team, number}) {
  const id = summary.run_id, motion = summary.motion ?? {};
  let row = document.getElementById(`row-${id}`);
  if (!row) {
    row = el("tr", {id: `row-${id}`, dataset: {run: id}, onclick: () => select(id)},
             el("td", {}, el("span", {class: "chip"}, String(number))),
             ...["speed", "distance", "top-speed", "hsr", "sprints"].map((c) => el("td", {class: `num ${c}`})),
             el("td", {class: "zones"}));
    insertSorted($("players-body"), row, team * 1000 + number);
  }
  Object.assign(row.dataset, {speed: motion.speed_mps, distance: motion.distance_m, topSpeed: motion.top_speed_mps,
                              hsr: motion.hsr_distance_m, sprints: motion.sprints, readings: summary.readings,
                              status: summary.silent ? "silent" : summary.status});
  row.querySelector(".speed").textContent = fmt(motion.speed_mps, 1);
  row.querySelector(".distance").textContent = fmt(motion.distance_m, 0);
  row.querySelector(".top-speed").textContent = fmt(motion.top_speed_mps, 2);
  row.querySelector(".hsr").textContent = fmt(motion.hsr_distance_m, 0);
  row.querySelector(".sprints").textContent = fmt(motion.sprints, 0);
  row.querySelector(".zones").replaceChildren(zoneBar(motion.zones ?? []));
  row.className = `${side}${marks(summary)}`;
}

/** Classes for the selected player and for one that is silent or finished (sides are known only
 * once both teams have appeared, so classes are set on every render). */
function marks(summary) {
  return `${summary.run_id === state.selected ? " selected" : ""}${summary.silent || summary.status !== "active" ? " silent" : ""}`;
}

function insertSorted(body, row, order) {
  row.dataset.order = order;
  const after = [...body.children].find((r) => Number(r.dataset.order) > order);
  body.insertBefore(row, after ?? null);
}

/** Distance per speed zone as one stacked bar. */
function zoneBar(zones) {
  const total = zones.reduce((s, z) => s + z.distance_m, 0);
  return el("div", {class: "zone-bar"}, ...zones.map((z, i) => el("span", {
    class: `zone z${i}`, style: `width: ${total ? (100 * z.distance_m / total).toFixed(1) : 0}%`,
    title: `${ZONE_NAMES[i] ?? `zone ${i + 1}`} ${fmt(z.from_mps, 1)}–${z.to_mps === null ? "" : fmt(z.to_mps, 1)} m/s: ` +
           `${fmt(z.distance_m)} m, ${fmt(z.time_s)} s`})));
}

function select(id) {
  state.selected = id;
  renderLive();
}

function renderSpeed() {
  const chart = $("speed-chart"), id = state.selected;
  const series = id ? state.speeds.get(id) ?? [] : [];
  const player = id ? playerOf(id) : null;
  $("speed-player").textContent = player ? `— ${id} (#${player.number})` : "— click a player";
  chart.dataset.run = id ?? "";
  chart.dataset.points = series.length;
  const t0 = series.length ? series[0][0] : 0, span = series.length ? series[series.length - 1][0] - t0 : 0;
  lineChart(chart, series.map(([t, v]) => [t - t0, v]), {
    yLabel: "m/s", xFormat: (s) => `${s.toFixed(span < 20 ? 1 : 0)} s`,
    refLines: [{y: 5.5, label: "HSR 5.5"}, {y: 7, label: "sprint 7"}],
  });
}

function renderAlerts() {
  const alerts = [...state.alerts.values()].sort((a, b) => (b.t ?? 0) - (a.t ?? 0)).slice(0, 100);
  $("alerts").replaceChildren(...alerts.map((a) => el("li", {class: `alert ${a.type}`, dataset: {run: a.run_id}},
    el("time", {}, clock(a.t)), " ", el("b", {}, a.run_id.slice(state.match.length + 1)), " ",
    a.type === "threshold" ? `${a.field} = ${fmt(a.value, 2)} outside [${a.min}, ${a.max}]`
      : a.type === "data_delay" ? `no data for ${fmt(a.silent_seconds, 1)} s` : a.type)));
  $("alerts-empty").hidden = alerts.length > 0;
}

// Plain glyphs, not emoji: a headless or minimal system often has no emoji font.
const EVENT_ICONS = {kickoff: "▶", pass: "→", shot: "◎", shot_saved: "◉", goal: "●", own_goal: "○",
                     yellow_card: "▮", red_card: "▮", substitution: "⇄", half_time: "‖", full_time: "■"};

/** The timeline from the event feed (the score, minute and stats come from the match agent: match.js). */
function renderEvents() {
  const shown = state.events.filter((e) => !["pass", "carry"].includes(e.event)).slice(-200).reverse();
  $("timeline").replaceChildren(...shown.map((e) => {
    const player = e.player ? playerOf(e.player) : null;
    return el("li", {class: `event ${e.event} ${e.team}`,
                     dataset: {event: e.event, minute: e.minute, team: e.team}},
      el("span", {class: "minute"}, `${Math.floor(e.minute)}'`), " ",
      el("span", {class: "icon"}, EVENT_ICONS[e.event] ?? "•"), " ",
      el("span", {class: "what"}, e.event.replace("_", " ")),
      player ? el("span", {class: "who"}, ` #${player.number}`) : null,
      e.xg ? el("span", {class: "xg"}, ` xG ${fmt(e.xg, 2)}`) : null,
      e.detail ? el("span", {class: "detail"}, ` ${e.detail}`) : null);
  }));
  const passes = state.events.length - state.events.filter((e) => !["pass", "carry"].includes(e.event)).length;
  $("events-status").textContent = state.events.length
    ? `${state.events.length} events${passes ? ` (${passes} passes and carries not listed)` : ""}`
    : `no event feed for this match yet (device match_events, run ${state.match ?? "–"})`;
}

// ------------------------------------------------------------------ views

function route() {
  const [, view, deviceId, runId] = location.hash.split("/");
  for (const main of document.querySelectorAll("main")) main.hidden = true;
  if (view === "runs") {
    $("runs-view").hidden = false;
    showRuns($("runs-view"), DEVICE);
  } else if (view === "run" && deviceId && runId) {
    $("run-view").hidden = false;
    showRun($("run-view"), decodeURIComponent(deviceId), decodeURIComponent(runId));
  } else {
    $("live-view").hidden = false;
  }
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("current", link.getAttribute("href") === `#/${view ?? ""}`);
  }
}

drawPitch($("pitch"));
$("match-select").addEventListener("change", (event) => chooseMatch(event.target.value));
window.addEventListener("hashchange", route);
route();
renderEvents();
renderSpeed();
renderAlerts();
connect();
