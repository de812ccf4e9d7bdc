// Live statistics on a campaign page: listens to the page's server-sent
// events (`data-live` on the statistics section) and writes each number
// into the element that shows it (`data-stat="name"`). Without JavaScript
// the page shows the numbers as of its loading.
"use strict";
(function () {
  const section = document.querySelector("[data-live]");
  if (!section || !window.EventSource) return;
  const status = section.querySelector("[data-stat-status]");
  const progress = section.querySelector("[data-stat-progress]");
  const source = new EventSource(section.getAttribute("data-live"));
  source.addEventListener("stats", function (event) {
    const stats = JSON.parse(event.data);
    document.querySelectorAll("[data-stat]").forEach(function (el) {
      // A dotted name reads a nested field (`messaging_limit.used`).
      const value = el.getAttribute("data-stat").split(".").reduce(function (v, key) {
        return v === null || v === undefined ? v : v[key];
      }, stats);
      el.textContent = value === null || value === undefined ? "—" : String(value);
    });
    const finishes = section.querySelector("[data-stat-finishes-at]");
    if (finishes) {
      // As the server writes times: to the second, with the time zone.
      finishes.textContent = stats.finishes_at
        ? stats.finishes_at.replace("T", " ").slice(0, 19) + " UTC"
        : "—";
    }
    const reasons = section.querySelector("[data-stat-reasons]");
    if (reasons && stats.not_sent_reasons.length) {
      const base = reasons.getAttribute("data-stat-reasons");
      reasons.replaceChildren(...stats.not_sent_reasons.map(function (r) {
        const row = document.createElement("tr");
        const link = document.createElement("a");
        link.href = base + "?reason=" + encodeURIComponent(r.code) + "#recipients";
        link.textContent = r.reason;
        const code = document.createElement("code");
        code.textContent = r.code;
        [link, code, document.createTextNode(String(r.count))].forEach(function (content) {
          const cell = document.createElement("td");
          cell.appendChild(content);
          row.appendChild(cell);
        });
        return row;
      }));
    }
    const waiting = section.querySelector("[data-stat-waiting]");
    if (waiting) {
      waiting.replaceChildren(...(stats.waiting || []).map(function (w) {
        const line = document.createElement("p");
        line.className = "waiting";
        line.setAttribute("data-code", w.code);
        const label = document.createElement("strong");
        label.textContent = waiting.getAttribute("data-text-waiting");
        const code = document.createElement("code");
        code.textContent = w.code;
        line.append(label, " " + w.reason + " (", code, ")");
        return line;
      }));
    }
    if (progress) {
      progress.value = stats.progress_pct;
      progress.textContent = stats.progress_pct + " %";
    }
    if (status) {
      // The page gives the texts, in its language ("{at}" marks the time).
      status.textContent = stats.lifecycle === "finished"
        ? status.getAttribute("data-text-final")
        : status.getAttribute("data-text-live")
            .replace("{at}", new Date().toISOString().replace("T", " ").slice(0, 19) + " UTC");
    }
    section.setAttribute("data-live-updated", String(Date.now()));
    if (stats.lifecycle === "finished") source.close();
  });
})();
