// The opinion desk page: plain JavaScript, no build step, no network beyond this server.
"use strict";

const PALETTE = ["#2f6fdb", "#e4572e", "#29a36a", "#f0a202", "#8e44ad", "#17becf", "#7f8c8d", "#d35400", "#c0392b", "#16a085"];
const colors = {};
function colorOf(label) {
  if (!(label in colors)) colors[label] = PALETTE[Object.keys(colors).length % PALETTE.length];
  return colors[label];
}
const $ = (id) => document.getElementById(id);
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k === "style") node.style.cssText = v; else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}
function problem(body, status) {
  if (body && body.error) return `${status}: ${body.error}`;
  return `${status}: ${JSON.stringify(body)}`;
}
async function api(method, path, payload, headers = {}) {
  const response = await fetch(path, {
    method, headers: { "Content-Type": "application/json", ...headers },
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) throw new Error(problem(body, response.status));
  return body;
}

// ---------------------------------------------------------------- label sets
let labelSets = {};
async function loadLabelSets(selectName) {
  const data = await api("GET", "/v1/label-sets");
  $("model-id").textContent = data.model_id;
  labelSets = {};
  for (const set of data.label_sets) labelSets[set.name] = set;
  for (const id of ["try-label-set", "edit-label-set", "review-label-set"]) {
    const select = $(id);
    const keep = (id === "review-label-set" ? select.value || data.stream_label_set : selectName || select.value);
    select.replaceChildren(...data.label_sets.map((s) => el("option", { value: s.name }, `${s.name} (${s.labels.length} labels)`)));
    if (keep && labelSets[keep]) select.value = keep;
  }
  showLabelSet();
  if (!data.writable) $("edit-message").textContent = "Writes are disabled on this server (no serve.token).";
}
function showLabelSet() {
  const set = labelSets[$("edit-label-set").value];
  if (!set) return;
  $("labelset-version").textContent = set.version;
  $("edit-json").value = JSON.stringify(set.label_set, null, 2);
}
async function saveLabelSet() {
  const name = $("edit-label-set").value;
  $("edit-error").textContent = ""; $("edit-message").textContent = "";
  let payload;
  try { payload = JSON.parse($("edit-json").value); } catch (err) { $("edit-error").textContent = `not valid JSON: ${err.message}`; return; }
  const button = $("edit-save");
  button.disabled = true;
  try {
    const result = await api("PUT", `/v1/label-sets/${encodeURIComponent(name)}`, payload,
      { Authorization: `Bearer ${$("edit-token").value}` });
    $("edit-message").textContent = result.changed ? `Swapped in: ${result.version}` : `Unchanged: ${result.version}`;
    await loadLabelSets(name);
  } catch (err) {
    $("edit-error").textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- try texts
function scoreBars(scores) {
  const rows = Object.entries(scores).sort((a, b) => b[1] - a[1]);
  return rows.map(([label, score]) => el("div", { class: "bar-row" },
    el("span", {}, label),
    el("div", { class: "bar" }, el("span", { style: `width:${(100 * Math.max(0, Math.min(1, score))).toFixed(1)}%;background:${colorOf(label)}` })),
    el("span", {}, score.toFixed(3))));
}
async function classify() {
  const texts = $("try-texts").value.split("\n").map((t) => t.trim()).filter(Boolean);
  $("try-error").textContent = "";
  if (!texts.length) { $("try-error").textContent = "type at least one text"; return; }
  const button = $("try-submit");
  button.disabled = true;
  try {
    const data = await api("POST", "/v1/classify", { texts, label_set: $("try-label-set").value });
    $("try-results").replaceChildren(...data.results.map((r, i) => el("div", { class: "result" },
      el("div", { class: "result-text" }, texts[i]),
      el("div", {}, el("span", { class: "tag result-label", style: `background:${colorOf(r.label)}` }, r.label), " ",
        el("span", { class: "muted" }, `${r.score.toFixed(3)} · ${r.label_set_version}`)),
      ...scoreBars(r.scores))));
  } catch (err) {
    $("try-error").textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- live stream
function drawShares(snapshot) {
  const svg = $("share-chart");
  const W = 640, H = 220, pad = 22;
  const NS = "http://www.w3.org/2000/svg";
  const shape = (tag, attrs) => { const n = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); return n; };
  const nodes = [];
  const buckets = snapshot.shares;
  const labels = snapshot.labels;
  for (const y of [0, 0.5, 1]) {
    const yy = pad + (H - 2 * pad) * (1 - y);
    nodes.push(shape("line", { x1: 30, x2: W - 4, y1: yy, y2: yy, stroke: "#dfe3ea", "stroke-width": 1 }));
    const t = shape("text", { x: 2, y: yy + 4, "font-size": 10, fill: "#6b7385" }); t.textContent = `${y * 100}%`; nodes.push(t);
  }
  if (buckets.length) {
    const n = Math.max(buckets.length, 12);
    const slot = (W - 34) / n, bar = Math.max(2, slot * 0.8);
    buckets.forEach((b, i) => {
      const total = Object.values(b.counts).reduce((a, c) => a + c, 0) || 1;
      let y = H - pad;
      const x = 32 + (n - buckets.length + i) * slot;
      for (const label of labels) {
        const h = (H - 2 * pad) * (b.counts[label] || 0) / total;
        if (!h) continue;
        y -= h;
        const rect = shape("rect", { x, y, width: bar, height: h, fill: colorOf(label) });
        const tip = shape("title", {}); tip.textContent = `${new Date(b.t_ms).toLocaleTimeString()} ${label}: ${b.counts[label]} of ${total}`;
        rect.append(tip); nodes.push(rect);
      }
    });
    const first = shape("text", { x: 32, y: H - 6, "font-size": 10, fill: "#6b7385" });
    first.textContent = new Date(buckets[0].t_ms).toLocaleTimeString(); nodes.push(first);
    const last = shape("text", { x: W - 60, y: H - 6, "font-size": 10, fill: "#6b7385" });
    last.textContent = new Date(buckets[buckets.length - 1].t_ms).toLocaleTimeString(); nodes.push(last);
  } else {
    const t = shape("text", { x: W / 2 - 60, y: H / 2, "font-size": 12, fill: "#6b7385" }); t.textContent = "waiting for records…"; nodes.push(t);
  }
  svg.replaceChildren(...nodes);
  const totals = {};
  for (const b of buckets) for (const [label, c] of Object.entries(b.counts)) totals[label] = (totals[label] || 0) + c;
  const sum = Object.values(totals).reduce((a, c) => a + c, 0) || 1;
  $("share-legend").replaceChildren(...labels.map((label) => el("span", {},
    el("i", { style: `background:${colorOf(label)}` }), `${label} ${(100 * (totals[label] || 0) / sum).toFixed(0)}%`)));
}
function drawDeadLetters(snapshot) {
  const rows = Object.entries(snapshot.dead_letters).sort((a, b) => b[1] - a[1]);
  $("dead-letters").tBodies[0].replaceChildren(...(rows.length ? rows.map(([reason, n]) => el("tr", { "data-reason": reason },
    el("td", {}, reason), el("td", {}, n))) : [el("tr", { class: "empty" }, el("td", { colspan: 2 }, "none"))]));
}
// the first set's label, then each further set's (a stream with several label sets)
function setTags(r) {
  const tags = [el("span", { class: "tag", style: `background:${colorOf(r.label)}` }, r.label)];
  const others = Object.entries(r.label_sets || {}).slice(1);
  for (const [name, result] of others) {
    tags.push(" ", el("span", { class: "tag other-set", "data-label-set": name, title: `${name}: ${result.score.toFixed(2)}`,
      style: `background:${colorOf(result.label)}` }, `${name}: ${result.label}`));
  }
  return tags;
}
const MAX_ROWS = 30;
function addRecords(records) {
  const body = $("live-records").tBodies[0];
  for (const r of records) {
    const source = r.source ? `${r.source.partition}/${r.source.offset}` : "";
    const row = el("tr", { class: "live-record fresh" },
      el("td", {}, new Date(r.at_ms).toLocaleTimeString()),
      el("td", {}, ...setTags(r)),
      el("td", {}, (r.score ?? 0).toFixed(2)),
      el("td", { class: "text", title: r.text }, r.text),
      el("td", {}, source));
    body.prepend(row);
  }
  while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
}
function onSnapshot(snapshot) {
  const status = $("live-status");
  status.textContent = snapshot.connected ? "live" : (snapshot.error || "connecting…");
  status.className = "badge " + (snapshot.connected ? "ok" : "bad");
  $("kpi-outputs").textContent = snapshot.outputs;
  $("kpi-throughput").textContent = snapshot.throughput_per_s.toFixed(1);
  $("kpi-dead").textContent = snapshot.dead_letters_total;
  $("kpi-topic").textContent = snapshot.topics.output;
  drawShares(snapshot);
  drawDeadLetters(snapshot);
  addRecords(snapshot.records);
}
function connectLive() {
  const source = new EventSource("/v1/stream/events");
  source.onmessage = (event) => onSnapshot(JSON.parse(event.data));
  source.onerror = () => {
    const status = $("live-status");
    status.textContent = "reconnecting…"; status.className = "badge bad";
  };
}

// ---------------------------------------------------------------- review queue
function writeToken() { return $("review-token").value || $("edit-token").value; }
function reviewRow(item, labels) {
  const buttons = labels.map((label) => el("button", {
    class: label === item.label ? "answer given" : "answer", "data-label": label,
    title: label === item.label ? "confirm the label given" : "correct it to this label",
  }, label === item.label ? `✓ ${label}` : label));
  buttons.push(el("button", { class: "answer dismiss", "data-label": "", title: "drop the text, no example" }, "none of these"));
  const row = el("tr", { class: "review-item", "data-key": item.key },
    el("td", { class: "text" }, item.text),
    el("td", {}, el("span", { class: "tag", style: `background:${colorOf(item.label)}` }, item.label)),
    el("td", {}, item.margin.toFixed(3)),
    el("td", {}, ...buttons));
  for (const button of buttons) button.addEventListener("click", () => answerReview(item, button.dataset.label || null, row));
  return row;
}
async function loadReview() {
  const name = $("review-label-set").value;
  if (!name) return;
  const status = $("review-status");
  try {
    const data = await api("GET", `/v1/review-queue/${encodeURIComponent(name)}`);
    status.textContent = data.connected ? `${data.items.length} to review` : (data.error || "connecting…");
    status.className = "badge " + (data.connected ? "ok" : "bad");
    const body = $("review-items").tBodies[0];
    const shown = [...body.rows].map((r) => r.dataset.key).join("\n");
    if (shown === data.items.map((i) => i.key).join("\n")) return;  // unchanged: keep the rows under the pointer
    body.replaceChildren(...(data.items.length ? data.items.map((item) => reviewRow(item, data.labels))
      : [el("tr", { class: "empty" }, el("td", { colspan: 4 }, "nothing to review yet"))]));
  } catch (err) {
    status.textContent = err.message.startsWith("404") ? "off on this server" : err.message;
    status.className = "badge bad";
  }
}
async function answerReview(item, label, row) {
  $("review-error").textContent = ""; $("review-message").textContent = "";
  for (const b of row.querySelectorAll("button")) b.disabled = true;
  const name = $("review-label-set").value;
  try {
    const result = await api("POST", `/v1/review-queue/${encodeURIComponent(name)}/answers`, { key: item.key, label },
      { Authorization: `Bearer ${writeToken()}` });
    $("review-message").textContent = label === null ? "Dropped from the queue."
      : `${result.answer}: now an example of ${label}; label set ${result.version}`;
    row.remove();
    await loadLabelSets();
    await loadReview();
  } catch (err) {
    $("review-error").textContent = err.message;
    for (const b of row.querySelectorAll("button")) b.disabled = false;
  }
}

// ---------------------------------------------------------------- start
$("try-submit").addEventListener("click", classify);
$("edit-save").addEventListener("click", saveLabelSet);
$("edit-label-set").addEventListener("change", showLabelSet);
$("review-label-set").addEventListener("change", loadReview);
loadLabelSets().then(loadReview).catch((err) => { $("try-error").textContent = err.message; });
setInterval(loadReview, 3000);
fetch("/v1/stream/snapshot").then((r) => { if (r.ok) connectLive(); else { $("live-status").textContent = "off on this server"; } });
