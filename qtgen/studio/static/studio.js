// qtgen studio: keyboard, live preview, job progress. The only script the page may run (CSP script-src 'self').
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");

  function typing(e) {
    var t = e.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }

  // -- the queue: j/k select, Enter opens, a approves the selected (or ticked) rows
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.row"));
  var at = rows.length ? 0 : -1;
  function select(i) {
    if (!rows.length) return;
    at = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (r, n) { r.classList.toggle("selected", n === at); });
    rows[at].scrollIntoView({block: "nearest"});
  }
  if (rows.length) select(0);

  var draft = document.querySelector("main.draft");
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (typing(e)) {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    if (draft) {
      if (e.key === "j" && draft.dataset.next) location.href = "/draft/" + draft.dataset.next;
      else if (e.key === "k" && draft.dataset.prev) location.href = "/draft/" + draft.dataset.prev;
      else if (e.key === "a") document.getElementById("approve-form").submit();
      else if (e.key === "r") { e.preventDefault(); document.getElementById("reason").focus(); }
      else if (e.key === "e") { e.preventDefault(); openEdit(); }
      else return;
      return;
    }
    if (!rows.length) return;
    if (e.key === "j") select(at + 1);
    else if (e.key === "k") select(at - 1);
    else if (e.key === "Enter") location.href = rows[at].dataset.href;
    else if (e.key === "a") {
      var ticked = document.querySelectorAll('tr.row input[name="id"]:checked');
      if (!ticked.length) rows[at].querySelector('input[name="id"]').checked = true;
      document.getElementById("queue-form").submit();
    }
    else if (e.key === "r" || e.key === "e") location.href = rows[at].dataset.href + (e.key === "e" ? "?edit=1" : "?reject=1");
  });

  // -- opened with r from the queue: the reject box of this draft, ready for the reason
  if (draft && new URLSearchParams(location.search).get("reject") === "1") {
    var reason = document.getElementById("reason");
    if (reason) { reason.scrollIntoView({block: "center"}); reason.focus(); }
  }

  // -- edit with a live preview (rendered by the server exactly as the site does)
  var panel = document.getElementById("edit-panel");
  function openEdit() {
    if (!panel) return;
    panel.hidden = false;
    var area = panel.querySelector("textarea");
    area.focus();
    refresh();
  }
  var toggle = document.getElementById("edit-toggle");
  if (toggle) toggle.addEventListener("click", function () { panel.hidden ? openEdit() : (panel.hidden = true); });
  var editForm = document.querySelector("form.edit");
  var timer = null;
  function refresh() {
    if (!editForm) return;
    var target = document.getElementById("live-preview");
    if (!target) return;
    var body = new URLSearchParams(new FormData(editForm)).toString();
    fetch(editForm.dataset.preview, {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded",
      "X-CSRF-Token": csrf}, body: body, credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (d) { target.innerHTML = d.error ? "" : d.html; target.dataset.error = d.error || ""; });
  }
  if (editForm) editForm.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(refresh, 250); });
  if (panel && !panel.hidden) refresh();

  // -- a regeneration in the background: show progress, reload when it ends
  var job = document.getElementById("job");
  if (job) {
    var poll = function () {
      fetch("/jobs/" + job.dataset.job, {credentials: "same-origin"}).then(function (r) { return r.json(); })
        .then(function (d) {
          if (d.state === "running") { job.querySelector(".seconds").textContent = d.seconds + " s"; setTimeout(poll, 700); }
          else location.reload();
        });
    };
    poll();
  }
})();
