// The page of `lightbus dashboard`: HTML, CSS and script in one, embedded in
// the binary. It polls /api/overview every 2 s and draws with Chart.js
// (/static/chart.js, Debian's libjs-chart.js) when it is there.

#include "dashboard.hpp"

namespace lightbus::cli {

const char* const dashboard_page = R"lbpage(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lightbus dashboard</title>
<link rel="icon" href="data:,">
<style>
body { font-family: system-ui, sans-serif; margin: 0; background: #f5f6f8; color: #222; }
header { background: #243447; color: #fff; padding: 10px 20px; display: flex; gap: 20px; align-items: baseline; }
header h1 { font-size: 20px; margin: 0; }
#status { font-size: 13px; opacity: .85; }
#status.bad { color: #ffb4a8; opacity: 1; }
main { padding: 12px 20px; display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
section { background: #fff; border-radius: 6px; padding: 10px 14px; box-shadow: 0 1px 2px #0002; overflow-x: auto; }
section.wide { grid-column: 1 / 3; }
h2 { font-size: 15px; margin: 4px 0 8px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #eee; vertical-align: top; }
th { color: #555; font-weight: 600; }
.state-running { color: #11772d; font-weight: 600; }
.state-lost { color: #c0392b; font-weight: 600; }
.state-stopped { color: #777; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.warn { color: #c0392b; font-weight: 600; }
.muted { color: #888; }
form { display: grid; grid-template-columns: 90px 1fr; gap: 6px; margin-bottom: 10px; font-size: 13px; }
textarea { font-family: monospace; height: 50px; }
pre:empty { display: none; }
pre { background: #f0f0f0; padding: 6px; font-size: 12px; white-space: pre-wrap; margin: 4px 0; max-height: 160px; overflow: auto; }
button { cursor: pointer; }
#chart-box { height: 220px; }
</style>
</head>
<body>
<header><h1>lightbus dashboard</h1><span id="status">loading&hellip;</span>
<span id="token-box" hidden>token <input id="token" type="password" size="16"></span></header>
<main>
<section class="wide"><h2>Workers</h2>
<table><thead><tr><th>service</th><th>process</th><th>state</th><th>host / pid</th><th>APIs</th><th>listening for</th><th>started</th><th>last ping</th><th>stopped</th></tr></thead>
<tbody id="workers"></tbody></table></section>
<section><h2>APIs (schemas on the bus)</h2><div id="apis"></div></section>
<section><h2>RPC queues</h2>
<table><thead><tr><th>API</th><th class="num">waiting</th><th class="num">oldest waits</th></tr></thead>
<tbody id="queues"></tbody></table></section>
<section class="wide"><h2>Streams and consumer groups</h2>
<table><thead><tr><th>stream</th><th class="num">length</th><th>group</th><th class="num">lag</th><th class="num">pending</th><th>oldest pending</th><th>consumers</th><th class="num">dead letters</th></tr></thead>
<tbody id="streams"></tbody></table></section>
<section class="wide"><h2>Rates <span id="rates-source" class="muted"></span></h2>
<div id="chart-box"><canvas id="rates"></canvas></div><div id="rates-text" class="muted"></div></section>
<section><h2>Call an RPC</h2>
<form id="call-form"><label for="call-name">procedure</label><input id="call-name" list="procedure-names" placeholder="api.procedure">
<label for="call-kwargs">kwargs</label><textarea id="call-kwargs">{}</textarea>
<span></span><button id="call-submit" type="submit">Call</button></form>
<datalist id="procedure-names"></datalist><pre id="call-result"></pre></section>
<section><h2>Fire an event</h2>
<form id="fire-form"><label for="fire-name">event</label><input id="fire-name" list="event-names" placeholder="api.event">
<label for="fire-kwargs">kwargs</label><textarea id="fire-kwargs">{}</textarea>
<span></span><button id="fire-submit" type="submit">Fire</button></form>
<datalist id="event-names"></datalist><pre id="fire-result"></pre></section>
<section class="wide"><h2>Dead letters</h2>
<form id="dl-form"><label for="dl-group">group</label><input id="dl-group" placeholder="service-listener">
<span></span><span><button id="dl-list" type="submit">List</button> <button id="dl-replay-all" type="button">Replay all</button> <button id="dl-drop-all" type="button">Drop all</button></span></form>
<table><thead><tr><th>id</th><th>event</th><th>kwargs</th><th>reason</th><th class="num">deliveries</th><th></th></tr></thead>
<tbody id="dl-table"></tbody></table><pre id="dl-result"></pre></section>
</main>
<div id="page-errors" data-count="0" hidden></div>
<script>
"use strict";
// Errors of this page (scripts, resources, promises) are counted here, so a
// headless browser test can read them from the DOM too.
var pageErrors = document.getElementById("page-errors");
function notePageError(text) {
  pageErrors.dataset.count = String(Number(pageErrors.dataset.count) + 1);
  pageErrors.textContent += text + "\n";
}
window.addEventListener("error", function (e) {
  notePageError(e.message || ("failed to load " + (e.target && (e.target.src || e.target.href))));
}, true);
window.addEventListener("unhandledrejection", function (e) { notePageError(String(e.reason)); });
</script>
<script src="/static/chart.js"></script>
<script>
"use strict";
var info = { token_required: false, poll_ms: 2000 };
var chart = null;
var knownGroups = [];

function $(id) { return document.getElementById(id); }
function esc(v) {
  return String(v === null || v === undefined ? "" : v).replace(/[&<>"']/g, function (c) {
    return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
  });
}
function ago(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return ms + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
  if (ms < 3600000) return Math.floor(ms / 60000) + " min";
  return (ms / 3600000).toFixed(1) + " h";
}
function when(ms, now) {
  if (!ms) return "";
  return '<span title="' + esc(new Date(ms).toISOString()) + '">' + ago(now - ms) + " ago</span>";
}
function headers() {
  var h = { "Content-Type": "application/json" };
  var t = $("token").value;
  if (t) h["Authorization"] = "Bearer " + t;
  return h;
}
function post(path, body) {
  return fetch(path, { method: "POST", headers: headers(), body: JSON.stringify(body) })
    .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, status: r.status, body: j }; }); });
}
function show(id, res) {
  $(id).textContent = (res.ok ? "" : "HTTP " + res.status + ": ") + JSON.stringify(res.body, null, 2);
  $(id).dataset.ok = res.ok ? "1" : "0";
}
function parseKwargs(id, out) {
  try {
    var v = JSON.parse($(id).value || "{}");
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("kwargs must be a JSON object");
    return v;
  } catch (e) {
    $(out).textContent = String(e.message || e);
    $(out).dataset.ok = "0";
    return null;
  }
}

function renderWorkers(ws, now) {
  $("workers").innerHTML = ws.map(function (w) {
    return '<tr data-process="' + esc(w.process_name) + '" data-state="' + esc(w.state) + '"><td>' + esc(w.service_name) + "</td><td>" + esc(w.process_name) +
      '</td><td class="state-' + esc(w.state) + '">' + esc(w.state) + "</td><td>" + esc(w.hostname) + " / " + esc(w.pid) +
      "</td><td>" + esc(w.api_names.join(", ")) + "</td><td>" + esc(w.listening_for.join(", ")) +
      "</td><td>" + when(w.started_ms, now) + "</td><td>" + when(w.last_seen_ms, now) +
      (w.ping_enabled ? ' <span class="muted">(every ' + esc(w.ping_interval) + " s)</span>" : ' <span class="muted">(no pings)</span>') +
      "</td><td>" + when(w.stopped_ms, now) + "</td></tr>";
  }).join("") || '<tr><td colspan="9" class="muted">no worker has announced itself on internal.state (enable plugins.internal_state)</td></tr>';
}

function renderApis(apis) {
  var procs = [], events = [];
  $("apis").innerHTML = apis.map(function (a) {
    a.procedures.forEach(function (p) { procs.push(a.name + "." + p.name); });
    a.events.forEach(function (e) { events.push(a.name + "." + e.name); });
    return '<div class="api" data-api="' + esc(a.name) + '"><b>' + esc(a.name) + "</b> " +
      (a.served_by.length ? '<span class="muted">served by ' + esc(a.served_by.map(function (s) { return s.process_name; }).join(", ")) + "</span>" : '<span class="muted">no running worker announced it</span>') +
      "<br>procedures: " + (a.procedures.map(function (p) { return esc(p.name) + "(" + esc(p.parameters.join(", ")) + ")"; }).join(", ") || "none") +
      "<br>events: " + (a.events.map(function (e) { return esc(e.name) + "(" + esc(e.parameters.join(", ")) + ")"; }).join(", ") || "none") + "</div>";
  }).join("<hr>") || '<span class="muted">no schemas on the bus</span>';
  $("procedure-names").innerHTML = procs.map(function (n) { return '<option value="' + esc(n) + '">'; }).join("");
  $("event-names").innerHTML = events.map(function (n) { return '<option value="' + esc(n) + '">'; }).join("");
}

function renderQueues(qs) {
  $("queues").innerHTML = qs.map(function (q) {
    return '<tr data-api="' + esc(q.api) + '"><td>' + esc(q.api) + '</td><td class="num">' + esc(q.length) + '</td><td class="num' + (q.oldest_expired ? ' warn' : '') + '">' +
      (q.oldest_age_ms === null ? "" : ago(q.oldest_age_ms) + (q.oldest_expired ? " (expired)" : "")) + "</td></tr>";
  }).join("") || '<tr><td colspan="3" class="muted">no call is waiting</td></tr>';
}

function renderStreams(ss) {
  var rows = [];
  knownGroups = [];
  ss.forEach(function (s) {
    var groups = s.groups.length ? s.groups : [null];
    groups.forEach(function (g, i) {
      var first = i === 0;
      var row = '<tr data-stream="' + esc(s.stream) + '"' + (g ? ' data-group="' + esc(g.name) + '" data-lag="' + esc(g.lag) + '"' : "") + ">" +
        (first ? '<td rowspan="' + groups.length + '">' + esc(s.stream) + '</td><td class="num" rowspan="' + groups.length + '">' + esc(s.length) + "</td>" : "");
      if (!g) {
        row += '<td colspan="6" class="muted">no consumer groups</td></tr>';
      } else {
        knownGroups.push(g.name);
        var op = g.oldest_pending;
        row += "<td>" + esc(g.name) + '</td><td class="num lag">' + esc(g.lag) + (g.lag_source === "counted" ? "*" : "") +
          '</td><td class="num">' + esc(g.pending) + "</td><td>" + (op ? esc(op.id) + " on " + esc(op.consumer) + ", " + ago(op.age_ms) + " old, " + esc(op.deliveries) + " deliveries" : "") +
          "</td><td>" + g.consumers.map(function (c) { return esc(c.name) + ' <span class="muted">(' + esc(c.pending) + " pending, idle " + ago(c.idle_ms) + ")</span>"; }).join("<br>") +
          '</td><td class="num' + (g.dead_letters ? " warn" : "") + '"><a href="#" data-dl="' + esc(g.name) + '">' + esc(g.dead_letters) + "</a></td></tr>";
      }
      rows.push(row);
    });
  });
  $("streams").innerHTML = rows.join("") || '<tr><td colspan="8" class="muted">no event streams</td></tr>';
}

function renderRates(rates) {
  $("rates-source").textContent = "(per second, from " + rates.source + ")";
  var pts = rates.points;
  var last = pts.length ? pts[pts.length - 1] : null;
  $("rates-text").textContent = last ? "now: calls " + (last.calls === null ? "n/a" : last.calls.toFixed(2)) +
    ", events fired " + last.events_fired.toFixed(2) + ", handled " + last.events_handled.toFixed(2) +
    ", failures " + last.failures.toFixed(2) : "collecting\u2026";
  if (!window.Chart) return;
  var labels = pts.map(function (p) { return new Date(p.t).toLocaleTimeString(); });
  var sets = [["calls", "#2d6cdf"], ["events_fired", "#11772d"], ["events_handled", "#d68910"], ["failures", "#c0392b"]];
  if (!chart) {
    chart = new window.Chart($("rates"), {
      type: "line",
      data: { labels: [], datasets: sets.map(function (s) { return { label: s[0].replace("_", " "), borderColor: s[1], data: [], pointRadius: 0, tension: 0.2 }; }) },
      options: { animation: false, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } }
    });
  }
  chart.data.labels = labels;
  sets.forEach(function (s, i) { chart.data.datasets[i].data = pts.map(function (p) { return p[s[0]]; }); });
  chart.update();
}

function refresh() {
  return fetch("/api/overview").then(function (r) { return r.json(); }).then(function (o) {
    renderWorkers(o.workers, o.time_ms);
    renderApis(o.apis);
    renderQueues(o.queues);
    renderStreams(o.streams);
    renderRates(o.rates);
    var st = $("status");
    st.className = o.errors.length ? "bad" : "";
    st.textContent = o.errors.length ? o.errors.join("; ") : "updated " + new Date(o.time_ms).toLocaleTimeString();
    document.body.dataset.updated = String(o.time_ms);
  }).catch(function (e) {
    $("status").className = "bad";
    $("status").textContent = "dashboard unreachable: " + e;
  });
}

function listDeadLetters() {
  var g = $("dl-group").value;
  if (!g) return Promise.resolve();
  return fetch("/api/dead_letters?group=" + encodeURIComponent(g)).then(function (r) { return r.json(); }).then(function (ls) {
    if (!Array.isArray(ls)) { $("dl-result").textContent = JSON.stringify(ls); return; }
    $("dl-table").innerHTML = ls.map(function (l) {
      return '<tr data-id="' + esc(l.dead_letter_id) + '"><td>' + esc(l.dead_letter_id) + "</td><td>" + esc((l.api || "?") + "." + (l.event || "?")) +
        "</td><td>" + esc(JSON.stringify(l.kwargs)) + "</td><td>" + esc(l.reason) + '</td><td class="num">' + esc(l.deliveries) +
        '</td><td><button type="button" data-replay="' + esc(l.dead_letter_id) + '">replay</button> <button type="button" data-drop="' + esc(l.dead_letter_id) + '">drop</button></td></tr>';
    }).join("") || '<tr><td colspan="6" class="muted">no dead letters in ' + esc(g) + ":dead_letter</td></tr>";
  });
}

function deadLetterAction(kind, ids) {
  var body = { group: $("dl-group").value };
  if (ids) body.ids = ids; else body.all = true;
  return post("/api/dead_letters/" + kind, body).then(function (res) { show("dl-result", res); return listDeadLetters(); });
}

$("call-form").addEventListener("submit", function (e) {
  e.preventDefault();
  var kwargs = parseKwargs("call-kwargs", "call-result");
  if (!kwargs) return;
  $("call-result").textContent = "calling\u2026";
  post("/api/call", { name: $("call-name").value, kwargs: kwargs }).then(function (res) { show("call-result", res); });
});
$("fire-form").addEventListener("submit", function (e) {
  e.preventDefault();
  var kwargs = parseKwargs("fire-kwargs", "fire-result");
  if (!kwargs) return;
  post("/api/fire", { name: $("fire-name").value, kwargs: kwargs }).then(function (res) { show("fire-result", res); refresh(); });
});
$("dl-form").addEventListener("submit", function (e) { e.preventDefault(); listDeadLetters(); });
$("dl-replay-all").addEventListener("click", function () { deadLetterAction("replay", null); });
$("dl-drop-all").addEventListener("click", function () { deadLetterAction("drop", null); });
$("dl-table").addEventListener("click", function (e) {
  var t = e.target;
  if (t.dataset.replay) deadLetterAction("replay", [t.dataset.replay]);
  if (t.dataset.drop) deadLetterAction("drop", [t.dataset.drop]);
});
$("streams").addEventListener("click", function (e) {
  var g = e.target.dataset && e.target.dataset.dl;
  if (!g) return;
  e.preventDefault();
  $("dl-group").value = g;
  listDeadLetters();
});
$("token").value = sessionStorage.getItem("lightbus-token") || "";
$("token").addEventListener("change", function () { sessionStorage.setItem("lightbus-token", $("token").value); });

fetch("/api/info").then(function (r) { return r.json(); }).then(function (i) {
  info = i;
  $("token-box").hidden = !info.token_required;
  refresh();
  setInterval(refresh, Math.min(info.poll_ms, 2000));
});
</script>
</body>
</html>
)lbpage";

} // namespace lightbus::cli
