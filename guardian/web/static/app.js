// Guardian's only script: checks a parent's rule while it is typed and explains it, and
// asks before destructive buttons. The pages work without it (the server checks again).
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;

function checkRule(input) {
  const output = input.form.querySelector("output.explain");
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (!input.value.trim()) { output.textContent = ""; return; }
      const response = await fetch("/api/rules/check", {
        method: "POST",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
        body: JSON.stringify({rule: input.value, kind: input.dataset.checkRule}),
        credentials: "same-origin",
      });
      const answer = await response.json();
      output.textContent = answer.ok ? answer.explanation : (answer.explanation || answer.error);
      output.className = "explain " + (answer.ok && !answer.confirm && !(answer.warnings || []).length ? "good" : "bad");
      input.setCustomValidity(answer.ok ? "" : output.textContent);
      // A rule that blocks (or allows) every site is saved only with "I mean it" ticked.
      const confirm = input.form.querySelector("label.confirm");
      if (confirm) confirm.hidden = !answer.confirm;
    }, 250);
  });
}

document.querySelectorAll("input[data-check-rule]").forEach(checkRule);
// One listener for the whole page, so buttons in a part shown again later ask too.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
});

// On a UTC warning, name the zone this phone or computer is on, as a suggestion.
document.querySelectorAll("[data-browser-zone]").forEach((span) => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && !/^(Etc\/)?(UTC|UCT|GMT|Universal|Zulu)$/.test(zone)) {
    span.querySelector("b").textContent = zone;
    span.hidden = false;
  }
});

// The services grid: show only the services whose name, id or group contains the search.
document.querySelectorAll("input[data-service-search]").forEach((input) => {
  input.addEventListener("input", () => {
    const wanted = input.value.trim().toLowerCase();
    document.querySelectorAll("[data-group]").forEach((group) => {
      let shown = 0;
      group.querySelectorAll("[data-service]").forEach((item) => {
        item.hidden = wanted !== "" && !item.dataset.service.includes(wanted);
        if (!item.hidden) shown += 1;
      });
      group.hidden = shown === 0;
    });
  });
});

// The log's search is folded on a phone (the log itself comes first) and open on a wide screen.
if (window.matchMedia("(min-width: 760px)").matches) {
  document.querySelectorAll("details[data-open-wide]").forEach((details) => { details.open = true; });
}

// The lists page while a download runs: ask every 2 s whether it is done, then show the
// new state of the subscribed lists (the rest of the page, and anything typed, stays).
const downloading = document.querySelector("[data-downloading]");
if (downloading) {
  const poll = setInterval(async () => {
    const answer = await fetch("/api/lists", {credentials: "same-origin"}).then((r) => r.json()).catch(() => null);
    if (!answer || answer.updating) return;
    clearInterval(poll);
    const page = await fetch(location.pathname, {credentials: "same-origin"}).then((r) => r.text());
    const fresh = new DOMParser().parseFromString(page, "text/html").querySelector("#subscribed");
    if (fresh) document.querySelector("#subscribed").replaceWith(fresh);
  }, 2000);
}
