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
      else if (e.key === "e") { e.preventDefault(); if (panel && panel.dataset.claimed === "1") openEdit(); else location.search = "?edit=1"; }
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
  // opening the editor claims the draft (others see who is editing): the server does it, at ?edit=1
  if (toggle) toggle.addEventListener("click", function () {
    if (!panel.hidden) { panel.hidden = true; return; }
    if (panel.dataset.claimed === "1") openEdit(); else location.search = "?edit=1";
  });
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

  // -- the judge's issues: each quoted span marked in the rendered answer, its problem shown on hover and focus
  var issuesData = document.getElementById("judge-issues");
  var answer = document.getElementById("answer");
  if (issuesData && answer) {
    JSON.parse(issuesData.textContent).forEach(function (issue, n) { mark(answer, issue.quote, issue.problem, n + 1); });
  }

  // lower-cased, spaces collapsed, Markdown's emphasis and code marks (* _ `) left out of the page text and the
  // quote alike (a quote of "snake_case" or of "*very*" finds its words), each character mapped to its place
  function folded(text, out, node, offset) {
    for (var i = 0; i < text.length; i++) {
      var c = text[i];
      if (c === "*" || c === "_" || c === "`") continue;
      if (/\s/.test(c)) {
        if (out.text.length && out.text[out.text.length - 1] !== " ") { out.text += " "; out.map.push([node, offset + i]); }
        continue;
      }
      var low = c.toLowerCase();
      for (var k = 0; k < low.length; k++) { out.text += low[k]; out.map.push([node, offset + i]); }
    }
  }

  function mark(root, quote, problem, n) {
    var visible = {acceptNode: function (n) {  // KaTeX's MathML copy of each formula is hidden: never marked
      return n.parentElement && n.parentElement.closest(".katex-mathml, annotation") ? NodeFilter.FILTER_REJECT
        : NodeFilter.FILTER_ACCEPT;
    }};
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, visible);
    var all = {text: "", map: []}, node;
    while ((node = walker.nextNode())) folded(node.data, all, node, 0);
    var wanted = {text: "", map: []};
    folded(quote, wanted, null, 0);
    var q = wanted.text.trim();
    var at = q ? all.text.indexOf(q) : -1;
    if (at < 0) return false;
    var first = all.map[at], last = all.map[at + q.length - 1];
    var nodes = [], seen = false;
    walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, visible);
    while ((node = walker.nextNode())) {
      if (node === first[0]) seen = true;
      if (seen) nodes.push(node);
      if (node === last[0]) break;
    }
    var focusable = true;
    nodes.forEach(function (t) {
      var start = t === first[0] ? first[1] : 0, end = t === last[0] ? last[1] + 1 : t.data.length;
      if (end <= start) return;
      var middle = t.splitText(start);
      middle.splitText(end - start);
      var m = document.createElement("mark");
      m.className = "judge-mark";
      if (focusable) {  // one stop of the keyboard per issue, however many pieces its quote spans
        m.setAttribute("tabindex", "0");
        m.setAttribute("aria-describedby", "issue-" + n);
        focusable = false;
      } else {
        m.classList.add("continued");
      }
      m.setAttribute("data-problem", problem);
      m.setAttribute("data-issue", String(n));
      middle.parentNode.replaceChild(m, middle);
      m.appendChild(middle);
    });
    return true;
  }

  // -- a question list chosen as a file: its text goes into the form (sent as text, with the CSRF token)
  var listFile = document.getElementById("list-file");
  if (listFile) listFile.addEventListener("change", function () {
    var file = listFile.files[0];
    if (!file) return;
    var reader = new FileReader();
    reader.onload = function () {
      document.getElementById("list-text").value = reader.result;
      document.getElementById("list-name").value = file.name;
    };
    reader.readAsText(file);
  });
})();
