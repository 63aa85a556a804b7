// Helpers shared by the dashboard's views: DOM building, JSON fetching, formatting, run ids.

/** Build an element: el("td", {class: "num", dataset: {run: id}}, "text", childNode). */
export function el(tag, attrs = {}, ...children) {
  const svg = ["svg", "g", "circle", "line", "rect", "path", "polyline", "text", "title"].includes(tag);
  const node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** GET a JSON route: {ok, status, body}; a network failure is status 0. */
export async function getJson(url) {
  try {
    const response = await fetch(url, {headers: {Accept: "application/json"}});
    const body = await response.json().catch(() => null);
    return {ok: response.ok, status: response.status, body};
  } catch (error) {
    return {ok: false, status: 0, body: {error: "the server did not answer", detail: String(error)}};
  }
}

/** A sentence for a failed route, naming what the status means for the reader. */
export function failure(what, result) {
  const said = [result.body?.error, typeof result.body?.detail === "string" ? result.body.detail : null]
    .filter(Boolean).join(": ");
  const meaning = {
    0: "the server is not reachable",
    404: "not found (this server may not offer it yet, or there is no such run)",
    503: "the store behind it is unavailable right now; try again shortly",
  }[result.status] ?? `the server answered ${result.status}`;
  return `${what}: ${meaning}${said ? ` (${said})` : ""}`;
}

/** Players are runs named <match>_t<team>_<number>; of a match's two team numbers the lower is home. */
const PLAYER_RUN = /^(.+)_t(\d+)_(\d+)$/;

export function playerOf(runId) {
  const m = PLAYER_RUN.exec(runId);
  return m ? {match: m[1], team: Number(m[2]), number: Number(m[3])} : null;
}

export function fmt(value, digits = 0) {
  return typeof value === "number" && Number.isFinite(value)
    ? value.toLocaleString("en-GB", {minimumFractionDigits: digits, maximumFractionDigits: digits})
    : "–";
}

export function clock(epochSeconds) {
  return typeof epochSeconds === "number" ? new Date(epochSeconds * 1000).toISOString().slice(11, 19) : "–";
}
