// warroom web chat: live updates over server-sent events, buttons and commands over
// fetch. The pages work without it (forms post and redirect); this only makes them live.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var room = document.body.dataset.room || "";

  function toast(text, refused) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var t = document.createElement("div");
    t.className = "toast" + (refused ? " refused" : "");
    t.setAttribute("role", "status");
    var close = document.createElement("button");
    close.className = "close";
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", function () { t.remove(); });
    t.appendChild(close);
    t.appendChild(document.createTextNode("Only you can see this: " + text));
    box.appendChild(t);
    setTimeout(function () { t.remove(); }, 20000);
  }

  function fromHTML(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html.trim();
    return tpl.content.firstElementChild;
  }

  function nearBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 200; }

  function upsertMessage(id, html) {
    var list = document.getElementById("messages");
    if (!list) return;
    var node = fromHTML(html);
    if (!node) return;
    var main = document.getElementById("main");
    var stick = main && nearBottom(main);
    var old = document.getElementById("m-" + id);
    if (old) old.replaceWith(node); else list.appendChild(node);
    if (stick && !old) main.scrollTop = main.scrollHeight;
  }

  function setRooms(html) {
    var nav = document.getElementById("rooms");
    if (!nav) return;
    nav.innerHTML = html;
    if (room) {
      var cur = nav.querySelector('[data-room="' + CSS.escape(room) + '"]');
      if (cur) cur.classList.add("current");
    }
  }

  function resync() {
    fetch("/chat/rooms", { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (h) { if (h) setRooms(h); });
    if (!room) return;
    fetch("/chat/r/" + encodeURIComponent(room) + "/messages", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (h) { var list = document.getElementById("messages"); if (h && list) list.innerHTML = h; });
  }

  if (window.EventSource) {
    var es = new EventSource("/chat/events");
    var broken = false;
    es.addEventListener("rooms", function (e) { setRooms(JSON.parse(e.data).html); });
    es.addEventListener("message", function (e) {
      var d = JSON.parse(e.data);
      if (d.room === room) upsertMessage(d.id, d.html);
    });
    es.addEventListener("private", function (e) {
      var d = JSON.parse(e.data);
      if (!d.room || d.room === room) toast(d.text, false);
    });
    es.addEventListener("open", function () { if (broken) { broken = false; resync(); } });
    es.addEventListener("error", function () { broken = true; });
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.classList || !form.classList.contains("js-post")) return;
    var btn = e.submitter;
    if (btn && btn.dataset.confirm && !window.confirm(btn.dataset.confirm)) { e.preventDefault(); return; }
    e.preventDefault();
    var data = new FormData(form);
    if (btn && btn.name) data.set(btn.name, btn.value);
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(form.action, {
      method: "POST", body: new URLSearchParams(data), credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf }
    }).then(function (r) {
      return r.json().catch(function () { return { text: "The server answered " + r.status + ".", private: true, refused: true }; });
    }).then(function (rep) {
      if (rep.private && rep.text) toast(rep.text, !!rep.refused);
      if (form.id === "command") { var input = form.querySelector('input[name="text"]'); if (input) input.value = ""; }
    }).catch(function () {
      toast("warroom did not answer; check the connection and try again.", true);
    }).finally(function () {
      buttons.forEach(function (b) { b.disabled = false; });
    });
  });
})();
