// SVG drawing: the pitch, the fit from GPS positions onto it, and a small line chart. No libraries.
import {el} from "./common.js";

export const PITCH = {length: 105, width: 68};
const M_PER_DEG_LAT = 110_574;      // display only: the fit rescales nothing, a few cm of error is invisible
const M_PER_DEG_LON_EQUATOR = 111_320;

/** Draw a 105 x 68 m pitch into `svg` (x along the length, centre spot at 0,0) and return the layer for players. */
export function drawPitch(svg) {
  const L = PITCH.length / 2, W = PITCH.width / 2;
  svg.setAttribute("viewBox", `${-L - 4} ${-W - 3} ${PITCH.length + 8} ${PITCH.width + 6}`);
  svg.replaceChildren();
  for (let i = 0; i < 10; i++) {                  // mowing stripes
    svg.append(el("rect", {x: -L + i * PITCH.length / 10, y: -W, width: PITCH.length / 10, height: PITCH.width,
                           class: i % 2 ? "grass-dark" : "grass-light"}));
  }
  const lines = el("g", {class: "pitch-lines"});
  const box = (depth, half) => [-1, 1].map((side) => el("rect", {
    x: side < 0 ? -L : L - depth, y: -half, width: depth, height: 2 * half}));
  const arc = (side) => {                          // the penalty arc: r 9.15 around the spot, outside the box
    const spot = side * (L - 11), edge = side * (L - 16.5), dy = Math.sqrt(9.15 ** 2 - (spot - edge) ** 2);
    return el("path", {d: `M ${edge} ${-dy} A 9.15 9.15 0 0 ${side > 0 ? 0 : 1} ${edge} ${dy}`});
  };
  lines.append(
    el("rect", {x: -L, y: -W, width: PITCH.length, height: PITCH.width}),
    el("line", {x1: 0, y1: -W, x2: 0, y2: W}),
    el("circle", {cx: 0, cy: 0, r: 9.15}),
    el("circle", {cx: 0, cy: 0, r: 0.4, class: "spot"}),
    ...box(16.5, 20.16), ...box(5.5, 9.16),
    ...[-1, 1].map((side) => el("circle", {cx: side * (L - 11), cy: 0, r: 0.4, class: "spot"})),
    arc(-1), arc(1),
    ...[-1, 1].map((side) => el("rect", {x: side < 0 ? -L - 2 : L, y: -3.66, width: 2, height: 7.32, class: "goal"})),
  );
  const players = el("g", {id: "players-layer"});
  svg.append(lines, players);
  return players;
}

/**
 * Places GPS (or x/y metre) positions on the pitch drawing. The devices do not say where the pitch
 * is, so the fit finds it: the principal axis of all players' positions is the pitch's length (a
 * formation spreads from goal to goal), and the middle of every position seen so far along both
 * axes is the centre spot. The sign is chosen so that the home team starts on the left.
 * Metres stay metres: nothing is stretched.
 */
export class PitchFit {
  constructor() {
    this.players = 0;
    this.origin = null;
  }

  /** Metres east and north of the first position seen (x/y devices are metres already). */
  local(p) {
    if (p.x !== undefined) return [p.x, p.y];
    this.origin ??= [p.lat, p.lon];
    const east = (p.lon - this.origin[1]) * M_PER_DEG_LON_EQUATOR * Math.cos(this.origin[0] * Math.PI / 180);
    return [east, (p.lat - this.origin[0]) * M_PER_DEG_LAT];
  }

  /** Refit the axes when more players have positions than at the last fit; grow the seen extent. */
  update(positions) {
    const pts = positions.map((p) => ({home: p.home, xy: this.local(p)}));
    if (pts.length > this.players) this.fitAxes(pts);
    for (const p of pts) {
      const [u, v] = this.rotate(p.xy);
      this.extent = [Math.min(this.extent[0], u), Math.max(this.extent[1], u),
                     Math.min(this.extent[2], v), Math.max(this.extent[3], v)];
    }
  }

  fitAxes(pts) {
    this.players = pts.length;
    const n = pts.length, mx = pts.reduce((s, p) => s + p.xy[0], 0) / n, my = pts.reduce((s, p) => s + p.xy[1], 0) / n;
    let sxx = 0, syy = 0, sxy = 0;
    for (const {xy: [x, y]} of pts) { sxx += (x - mx) ** 2; syy += (y - my) ** 2; sxy += (x - mx) * (y - my); }
    this.angle = 0.5 * Math.atan2(2 * sxy, sxx - syy);
    this.flip = 1;
    const us = pts.map((p) => this.rotate(p.xy)[0]);
    this.extent = [Math.min(...us), Math.max(...us), Infinity, -Infinity];
    const mid = (this.extent[0] + this.extent[1]) / 2;
    const home = pts.map((p, i) => [p, us[i]]).filter(([p]) => p.home).map(([, u]) => u);
    if (home.length && home.reduce((s, u) => s + u, 0) / home.length > mid) {
      this.flip = -1;                               // a half-turn, so the picture is not mirrored
      this.extent = [-this.extent[1], -this.extent[0], Infinity, -Infinity];
    }
    for (const p of pts) {
      const v = this.rotate(p.xy)[1];
      this.extent[2] = Math.min(this.extent[2], v);
      this.extent[3] = Math.max(this.extent[3], v);
    }
  }

  /** Local metres onto the fitted axes (before centring); SVG y grows downwards, hence -v. */
  rotate([x, y]) {
    const c = Math.cos(this.angle), s = Math.sin(this.angle);
    return [this.flip * (x * c + y * s), -this.flip * (-x * s + y * c)];
  }

  /** A position in pitch metres from the centre spot: [along the length, across]. */
  place(p) {
    const [u, v] = this.rotate(this.local(p));
    return [u - (this.extent[0] + this.extent[1]) / 2, v - (this.extent[2] + this.extent[3]) / 2];
  }
}

/**
 * A line chart of [x, y] points into `svg`, with optional horizontal reference lines ({y, label}).
 * `xFormat` labels the x ticks; the y axis starts at 0.
 */
export function lineChart(svg, points, {refLines = [], yLabel = "", xFormat = String, yMin = 0} = {}) {
  const width = 600, height = 200, left = 38, right = 18, top = 10, bottom = 22;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren();
  if (points.length < 2) {
    svg.append(el("text", {x: width / 2, y: height / 2, class: "chart-empty", "text-anchor": "middle"},
                  points.length ? "waiting for more data…" : "no data yet"));
    return;
  }
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || x0 + 1;
  const y1 = Math.max(...ys, ...refLines.map((r) => r.y)) * 1.1 || 1;
  const sx = (x) => left + (x - x0) / (x1 - x0 || 1) * (width - left - right);
  const sy = (y) => top + (1 - (y - yMin) / (y1 - yMin)) * (height - top - bottom);
  const axis = el("g", {class: "chart-axis"});
  for (let i = 0; i <= 4; i++) {
    const y = yMin + (y1 - yMin) * i / 4, x = x0 + (x1 - x0) * i / 4;
    axis.append(el("line", {x1: left, x2: width - right, y1: sy(y), y2: sy(y), class: "grid"}),
                el("text", {x: left - 4, y: sy(y) + 3, "text-anchor": "end"}, y.toFixed(1)),
                el("text", {x: sx(x), y: height - 6, "text-anchor": "middle"}, xFormat(x)));
  }
  axis.append(el("text", {x: left + 4, y: top + 10, class: "chart-unit"}, yLabel));
  for (const ref of refLines) {
    axis.append(el("line", {x1: left, x2: width - right, y1: sy(ref.y), y2: sy(ref.y), class: "ref"}),
                el("text", {x: width - right - 2, y: sy(ref.y) - 3, "text-anchor": "end", class: "ref-label"}, ref.label));
  }
  svg.append(axis, el("polyline", {class: "chart-line",
                                   points: points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ")}));
}
