/* sybilscope keyboard triage, and failed writes said as failures.
 *
 * Keys (never while typing in a field, never with Ctrl, Alt or Meta):
 *   j / k    move down / up the triage queue        x      select the row (for "set status")
 *   Enter    open the cluster of the row            c / d  confirm / dismiss: pick the status and
 *   /        search                                         put the cursor in the reason
 *   ?        this help (Esc closes it)
 * c and d only choose: the analyst still writes the reason and submits, so every change keeps
 * its reason and its audit event. The page's own ids are used (app/web/ids.py).
 *
 * A labeling submit first clears the previous answer ("Saving..."), and a write the server did
 * not answer (signed out, server down, HTTP error) is said in the form's feedback, so the
 * message on screen is never an older success.
 */
(function () {
  "use strict";

  var QUEUE_ROWS = "#queue-table-rows tbody tr";
  var SEARCH = "search-input";
  // submit button -> the feedback it answers in
  var FEEDBACK_OF = {
    "label-submit": "label-feedback",
    "queue-bulk-submit": "queue-bulk-feedback",
    "users-set-role": "users-change-feedback",
    "users-disable": "users-change-feedback",
    "users-enable": "users-change-feedback",
    "users-reset-password": "users-change-feedback"
  };
  var FEEDBACKS = ["label-feedback", "queue-bulk-feedback", "users-change-feedback"];
  var HELP = [
    ["j / k", "next / previous cluster in the queue"],
    ["x", "select the cluster (for \u201cset status\u201d)"],
    ["Enter", "open the cluster"],
    ["c", "confirm: choose \u201cConfirmed\u201d, then type the reason"],
    ["d", "dismiss: choose \u201cDismissed\u201d, then type the reason"],
    ["/", "search"],
    ["?", "show or hide these keys"],
    ["Esc", "close this help"]
  ];
  var cursor = -1;

  function setProps(id, props) {
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(id, props);
    }
  }

  function message(id, text, ok) {
    setProps(id, {
      children: {
        namespace: "dash_html_components", type: "Div",
        props: {children: text, role: "alert",
                className: "alert alert-" + (ok ? "secondary" : "danger") + " py-1 px-2 small mb-0"}
      }
    });
  }

  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function queueRows() {
    return Array.prototype.filter.call(document.querySelectorAll(QUEUE_ROWS), function (row) {
      return row.querySelector("td");
    });
  }

  function moveCursor(step) {
    var rows = queueRows();
    if (!rows.length) return;
    cursor = Math.max(0, Math.min(rows.length - 1, cursor + step));
    rows.forEach(function (row, i) { row.classList.toggle("kbd-cursor", i === cursor); });
    rows[cursor].scrollIntoView({block: "nearest"});
  }

  function cursorRow() {
    var rows = queueRows();
    return cursor >= 0 && cursor < rows.length ? rows[cursor] : null;
  }

  function toggleSelected(row) {
    var box = row && row.querySelector("input[type=checkbox]");
    if (box) box.click();
  }

  function decide(status) {
    var form = document.getElementById("label-status");
    if (form && !form.disabled) {  // a cluster page: the judgement form
      setProps("label-status", {value: status});
      document.getElementById("label-status-reason").focus();
      return;
    }
    var bulk = document.getElementById("queue-bulk-status");
    if (!bulk || bulk.disabled) return;
    if (!document.querySelector(QUEUE_ROWS + " input[type=checkbox]:checked")) toggleSelected(cursorRow());
    setProps("queue-bulk-status", {value: status});
    document.getElementById("queue-bulk-reason").focus();
  }

  function search() {
    var box = document.getElementById(SEARCH);
    if (box) {
      box.focus();
      return;
    }
    window.location.href = "/?focus=search";
  }

  function toggleHelp(show) {
    var open = document.getElementById("keys-help");
    if (open) {
      open.remove();
      return;
    }
    if (show === false) return;
    var shade = document.createElement("div");
    shade.id = "keys-help";
    shade.className = "keys-help";
    shade.setAttribute("role", "dialog");
    shade.setAttribute("aria-label", "Keyboard shortcuts");
    var card = document.createElement("div");
    card.className = "keys-help-card";
    var title = document.createElement("h2");
    title.textContent = "Keyboard shortcuts";
    var list = document.createElement("dl");
    HELP.forEach(function (pair) {
      var key = document.createElement("dt");
      var kbd = document.createElement("kbd");
      kbd.textContent = pair[0];
      key.appendChild(kbd);
      var what = document.createElement("dd");
      what.textContent = pair[1];
      list.appendChild(key);
      list.appendChild(what);
    });
    card.appendChild(title);
    card.appendChild(list);
    shade.appendChild(card);
    shade.addEventListener("click", function () { shade.remove(); });
    document.body.appendChild(shade);
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") {
      toggleHelp(false);
      return;
    }
    if (typing(event.target)) return;
    var actions = {
      "j": function () { moveCursor(1); },
      "k": function () { moveCursor(-1); },
      "x": function () { toggleSelected(cursorRow()); },
      "Enter": function () {
        var link = cursorRow() && cursorRow().querySelector("td[data-dash-column=cluster] a");
        if (link) link.click();
      },
      "c": function () { decide("confirmed"); },
      "d": function () { decide("dismissed"); },
      "/": search,
      "?": function () { toggleHelp(true); }
    };
    var act = actions[event.key];
    if (!act) return;
    event.preventDefault();
    act();
  });

  // a submit clears the previous answer at once: an old success never stands for this one
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button");
    if (button && FEEDBACK_OF[button.id] && !button.disabled) message(FEEDBACK_OF[button.id], "Saving\u2026", true);
  }, true);

  var fetchFromDash = window.fetch;
  window.fetch = function (input, init) {
    var url = typeof input === "string" ? input : (input && input.url) || "";
    var body = init && typeof init.body === "string" ? init.body : "";
    var answers = url.indexOf("_dash-update-component") >= 0 ? FEEDBACKS.filter(function (id) {
      return body.indexOf('"' + id + '.children') >= 0 || body.indexOf("." + id + ".children") >= 0;
    }) : [];
    var reply = fetchFromDash.apply(this, arguments);
    if (!answers.length) return reply;
    return reply.then(function (response) {
      if (!response.ok) {
        var why = response.status === 401 ? "you are signed out: sign in again and retry"
          : "the server answered HTTP " + response.status + ": try again, the server log has the details";
        answers.forEach(function (id) { message(id, "Not saved: " + why + ". What you typed is still in the form.", false); });
      }
      return response;
    }, function (error) {
      answers.forEach(function (id) {
        message(id, "Not saved: the server cannot be reached (" + error.message + "). What you typed is still in the form.", false);
      });
      throw error;
    });
  };

  // "/" on a page without the search box opens the overview with the cursor in it
  if (new URLSearchParams(window.location.search).get("focus") === "search") {
    var tries = 0;
    var wait = window.setInterval(function () {
      var box = document.getElementById(SEARCH);
      if (box || ++tries > 100) {
        window.clearInterval(wait);
        if (box) box.focus();
      }
    }, 100);
  }

  // Dash redraws the queue's rows (new filters, a bulk change): keep the cursor where it was
  var pending = false;
  new MutationObserver(function () {
    if (pending || cursor < 0) return;
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      var rows = queueRows();
      if (!rows.length) return;
      cursor = Math.min(cursor, rows.length - 1);
      if (!rows[cursor].classList.contains("kbd-cursor")) rows[cursor].classList.add("kbd-cursor");
    });
  }).observe(document.documentElement, {childList: true, subtree: true});
})();
