// The followed match's state from the match agent (pushed on WS /live as {"type": "match"}): the score,
// the minute, each side's stats and the in-play win probability, charted over the match.
import {el, fmt} from "./common.js";

const $ = (id) => document.getElementById(id);
const OUTCOMES = [["home", "home win"], ["draw", "draw"], ["away", "away win"]];

/** Show one match summary (GET /matches/{id}?points=1 shape) in the header, the stats line and the chart. */
export function renderMatch(match) {
  const score = $("score");
  Object.assign(score.dataset, match.score);
  $("score-home").textContent = match.score.home;
  $("score-away").textContent = match.score.away;
  for (const side of ["home", "away"]) score.querySelector(`.side.${side}`).textContent = match.teams[side].name;
  const shootout = match.shootout ? ` (pens ${match.shootout.home}-${match.shootout.away})` : "";
  $("match-minute").textContent = match.status === "finished" ? `FT${shootout}`
    : match.status === "scheduled" ? "" : `${Math.floor(match.minute)}'`;
  renderStats(match);
  renderChart(match.points ?? [], match);
}

function renderStats(match) {
  const row = (label, value) => el("tr", {},
    el("td", {class: "num"}, value(match.teams.home)), el("th", {}, label), el("td", {class: "num"}, value(match.teams.away)));
  const share = (side) => side.possession === null ? "–" : `${Math.round(side.possession * 100)}%`;
  $("match-stats").replaceChildren(
    row("shots (on target)", (s) => `${s.shots} (${s.shots_on_target})`), row("xG", (s) => fmt(s.xg, 2)),
    row("possession", share), row("cards", (s) => `${s.yellow_cards} / ${s.red_cards}`),
    row("substitutions", (s) => String(s.substitutions)));
}

/** Three lines, home win / draw / away win, from 0 to 1 over the match minutes. */
function renderChart(points, match) {
  const svg = $("winprob-chart");
  const width = 600, height = 180, left = 34, right = 96, top = 8, bottom = 20;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.dataset.points = points.length;
  const now = match.win_probability;
  Object.assign(svg.dataset, {home: now.home.toFixed(4), draw: now.draw.toFixed(4), away: now.away.toFixed(4)});
  svg.replaceChildren();
  const last = Math.max(90, ...points.map((p) => p.minute));
  const sx = (m) => left + m / last * (width - left - right);
  const sy = (p) => top + (1 - p) * (height - top - bottom);
  const axis = el("g", {class: "chart-axis"});
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    axis.append(el("line", {x1: left, x2: width - right, y1: sy(p), y2: sy(p), class: "grid"}),
                el("text", {x: left - 4, y: sy(p) + 3, "text-anchor": "end"}, `${p * 100}%`));
  }
  for (let m = 0; m <= last; m += 15) axis.append(el("text", {x: sx(m), y: height - 5, "text-anchor": "middle"}, `${m}'`));
  svg.append(axis);
  OUTCOMES.forEach(([key, label], row) => {          // the legend says the current value of each line
    const line = points.map((p) => `${sx(p.minute).toFixed(1)},${sy(p[key]).toFixed(1)}`).join(" ");
    if (points.length > 1) svg.append(el("polyline", {class: `winprob ${key}`, points: line}));
    svg.append(el("text", {x: width - right + 8, y: top + 14 + row * 18, class: `winprob-label ${key}`},
                  `${label} ${Math.round(now[key] * 100)}%`));
  });
}
