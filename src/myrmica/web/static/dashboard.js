// Myrmica's dashboard: follows a request's log live over server-sent events (the rest is htmx).
(function () {
  "use strict";

  function clock(iso) {
    const at = new Date(iso);
    return isNaN(at.getTime()) ? "" : at.toISOString().slice(11, 19);
  }

  function follow(list) {
    const status = document.getElementById("log-status");
    const select = document.getElementById("log-task");
    let source = null;
    let count = 0;

    function say(text) {
      if (status) status.textContent = text;
    }

    function append(line) {
      const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      const item = document.createElement("li");
      item.className = "stream-" + String(line.stream || "stdout").replace(/[^a-z]/g, "");
      const time = document.createElement("time");
      time.dateTime = line.created_at || "";
      time.textContent = clock(line.created_at);
      const task = document.createElement("span");
      task.className = "log-task";
      task.textContent = line.task_type || "──";
      const text = document.createElement("span");
      text.className = "log-line";
      text.textContent = line.line;
      item.append(time, task, text);
      list.appendChild(item);
      count += 1;
      if (atBottom) list.scrollTop = list.scrollHeight;
    }

    function start() {
      if (source) source.close();
      list.replaceChildren();
      count = 0;
      delete list.dataset.ended;
      const task = select ? select.value : "";
      source = new EventSource(list.dataset.stream + (task ? "?task_type=" + encodeURIComponent(task) : ""));
      say("following live…");
      source.addEventListener("open", function () { say("following live…"); });
      source.addEventListener("log", function (event) { append(JSON.parse(event.data)); });
      source.addEventListener("end", function (event) {
        const state = JSON.parse(event.data).job_state;
        source.close();
        list.dataset.ended = state;
        say("the request ended " + state + "; " + count + " line" + (count === 1 ? "" : "s"));
      });
      source.addEventListener("error", function () {
        say(source.readyState === EventSource.CLOSED ? "disconnected: reload the page to follow again"
                                                     : "reconnecting…");
      });
    }

    if (select) select.addEventListener("change", start);
    start();
  }

  document.addEventListener("DOMContentLoaded", function () {
    const list = document.getElementById("log");
    if (list && list.dataset.stream) follow(list);
  });
})();
