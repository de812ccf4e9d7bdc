// The audience step's live count: as tags, valued tags or the match mode
// change, asks the console how many contacts match and says it in the
// polite live region. Without JavaScript the saved audience's count shows.
// The words come from the page: `data-one` and `data-other` (with a
// `{count}` marker); the console's answer has a `text` of its own when the
// audience is invalid or empty.
"use strict";
(function () {
  const output = document.getElementById("audience-count");
  const form = output && output.closest("form");
  if (!form) return;
  let timer = null;
  let asked = 0;
  function matching(count) {
    const words = output.getAttribute(count === 1 ? "data-one" : "data-other") || "{count}";
    return words.split("{count}").join(String(count));
  }
  function ask() {
    const data = new FormData(form);
    const query = new URLSearchParams({
      tags: data.get("tags") || "",
      valued_tags: data.get("valued_tags") || "",
      match: data.get("match") || "all",
    });
    const mine = ++asked;
    fetch("/console/audience-count?" + query.toString(), { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        if (mine !== asked) return;
        output.textContent = answer.text || matching(answer.count);
        output.setAttribute("data-count", String(answer.count));
      })
      .catch(function () { /* keep the last count */ });
  }
  form.addEventListener("input", function (event) {
    if (!event.target.hasAttribute("data-audience")) return;
    clearTimeout(timer);
    timer = setTimeout(ask, 250);
  });
})();
