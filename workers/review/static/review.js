// guardstream review: keyboard shortcuts. Served from 'self'; the CSP forbids inline scripts.
(function () {
  "use strict";
  var page = document.body.getAttribute("data-page");

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }
  function submit(id, buttonId) {
    var form = document.getElementById(id);
    if (!form) { return false; }
    var button = buttonId ? document.getElementById(buttonId) : null;
    if (form.requestSubmit) { form.requestSubmit(button || undefined); } else if (button) { button.click(); } else { form.submit(); }
    return true;
  }

  var rows = Array.prototype.slice.call(document.querySelectorAll("#queue-table tr.row"));
  var selected = -1;
  function select(index) {
    if (!rows.length) { return; }
    if (selected >= 0) { rows[selected].classList.remove("selected"); }
    selected = Math.max(0, Math.min(rows.length - 1, index));
    rows[selected].classList.add("selected");
    rows[selected].scrollIntoView({ block: "nearest" });
  }
  if (page === "queue" && rows.length) { select(0); }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    if (typing(target)) {
      if (event.key === "Escape") { target.blur(); event.preventDefault(); }
      if (event.key === "Enter" && target.tagName === "SELECT" && target.form) {
        event.preventDefault();
        if (target.form.requestSubmit) { target.form.requestSubmit(); } else { target.form.submit(); }
      }
      return;
    }
    var key = event.key;
    var handled = true;
    if (key === "?") {
      var help = document.getElementById("help");
      help.hidden = !help.hidden;
    } else if (key === "q") {
      window.location.assign("/queue");
    } else if (key === "o") {
      window.location.assign("/overview");
    } else if (key === "z") {
      handled = submit("undo-form");
    } else if (page === "queue" && (key === "j" || key === "ArrowDown")) {
      select(selected + 1);
    } else if (page === "queue" && (key === "k" || key === "ArrowUp")) {
      select(selected - 1);
    } else if (page === "queue" && key === "Enter" && selected >= 0) {
      var open = rows[selected].querySelector("[data-open]");
      if (open) { open.click(); }
    } else if (page === "queue" && key === "r") {
      handled = submit("next-form");
    } else if (page === "queue" && key === "/") {
      var first = document.getElementById("filter-label");
      if (first) { first.focus(); }
    } else if (page === "item" && key === "s") {
      handled = submit("label-form", "label-safe");
    } else if (page === "item" && key === "u") {
      handled = submit("label-form", "label-unsafe");
    } else if (page === "item" && /^[0-7]$/.test(key)) {
      var radio = key === "0"
        ? document.querySelector("#label-form input[name=category][value='']")
        : document.querySelector("#label-form input[data-key='" + key + "']");
      if (radio) { radio.checked = true; } else { handled = false; }
    } else if (page === "item" && key === "n") {
      var note = document.getElementById("note");
      if (note) { note.focus(); } else { handled = false; }
    } else if (page === "item" && key === "e") {
      handled = submit("explain-form");
    } else if (page === "item" && key === "x") {
      handled = submit("skip-form");
    } else if (page === "item" && key === "t") {
      handled = submit("claim-form");
    } else {
      handled = false;
    }
    if (handled) { event.preventDefault(); }
  });
})();
