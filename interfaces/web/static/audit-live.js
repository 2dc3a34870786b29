// The live audit view: one EventSource on the dashboard's stream; each record becomes a
// table row built with textContent only, so nothing from the server is parsed as HTML.
(function () {
  "use strict";
  var status = document.getElementById("live-status");
  var rows = document.getElementById("audit-rows");
  var empty = document.getElementById("live-empty");
  if (!status || !rows) { return; }
  var MAX_ROWS = 500;

  function when(ms) {
    return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }
  function cell(text, kind) {
    var td = document.createElement("td");
    var inner = td;
    if (kind === "code" && text) { inner = document.createElement("code"); td.appendChild(inner); }
    if (kind === "badge") {
      inner = document.createElement("span");
      inner.className = "badge " + String(text).replace(/[^a-z]/g, "");
      text = String(text).charAt(0).toUpperCase() + String(text).slice(1);
      td.appendChild(inner);
    }
    if (kind === "nowrap") { td.className = "nowrap"; }
    if (kind === "wrap") { td.className = "wrap"; }
    inner.textContent = text == null ? "" : String(text);
    return td;
  }
  function add(e) {
    var tr = document.createElement("tr");
    var detail = e.detail == null ? "" : (typeof e.detail === "string" ? e.detail : JSON.stringify(e.detail));
    [[when(e.timestamp), "nowrap"], [e.action, "code"], [e.severity, "badge"], [e.actorKind, ""],
     [e.machineId, "code"], [e.secretId, "code"], [e.projectId, "code"], [e.sourceIp, "nowrap"],
     [detail, "wrap"]].forEach(function (c) { tr.appendChild(cell(c[0], c[1])); });
    rows.insertBefore(tr, rows.firstChild);
    while (rows.children.length > MAX_ROWS) { rows.removeChild(rows.lastChild); }
    if (empty) { empty.hidden = true; }
  }
  var source = new EventSource(status.getAttribute("data-stream"));
  source.addEventListener("open", function () { status.textContent = "Live: new records appear below."; });
  source.addEventListener("error", function () {
    // A stream refused outright (no session any more) is not retried by the browser.
    if (source.readyState === EventSource.CLOSED) { window.location.assign("/login"); return; }
    status.textContent = "Disconnected: reconnecting…";
  });
  source.addEventListener("session-ended", function () {
    source.close();
    status.textContent = "Session ended: log in again.";
    window.location.assign("/login");
  });
  source.addEventListener("audit", function (msg) { add(JSON.parse(msg.data)); });
}());
