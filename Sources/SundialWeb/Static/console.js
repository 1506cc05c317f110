// Sundial console: asks before destructive actions, and refreshes the live part of a page at
// the rate the viewer picks (remembered in this browser). The pages work without it.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) event.preventDefault();
});

(() => {
  const control = document.querySelector(".refresh");
  const select = document.getElementById("refresh-rate");
  const state = document.getElementById("refresh-state");
  if (!control || !select || !document.querySelector("[data-live]")) return;
  control.hidden = false;
  select.value = localStorage.getItem("sundial.refresh") || "5";
  let timer = null;

  async function refresh() {
    try {
      const response = await fetch(window.location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.querySelectorAll("[data-live]");
      document.querySelectorAll("[data-live]").forEach((part, index) => {
        if (fresh[index]) part.replaceChildren(...fresh[index].childNodes);
      });
      state.textContent = "updated " + new Date().toLocaleTimeString();
    } catch (error) {
      state.textContent = "not updated: " + error.message;
    }
  }

  function schedule() {
    if (timer) clearInterval(timer);
    timer = null;
    const seconds = Number(select.value);
    localStorage.setItem("sundial.refresh", select.value);
    if (seconds > 0) timer = setInterval(refresh, seconds * 1000);
    state.textContent = seconds > 0 ? "" : "paused";
  }

  select.addEventListener("change", schedule);
  schedule();
})();

// The schedule's meaning and next fires as it is typed.
(() => {
  const schedule = document.getElementById("f-schedule");
  const zone = document.getElementById("f-timezone");
  const panel = document.querySelector(".preview");
  if (!schedule || !zone || !panel) return;
  const text = document.getElementById("preview-text");
  const list = document.getElementById("preview-fires");
  let timer = null;
  let asked = 0;

  async function show() {
    const expr = schedule.value.trim();
    panel.hidden = false;
    if (!expr) {
      text.textContent = "No schedule: the task runs once, now.";
      list.replaceChildren();
      return;
    }
    const ticket = ++asked;
    const query = new URLSearchParams({ expr, tz: zone.value.trim() || "UTC", count: "10" });
    try {
      const response = await fetch("/schedule/preview?" + query, { credentials: "same-origin" });
      const answer = await response.json();
      if (ticket !== asked) return;
      text.textContent = answer.valid ? answer.description : "Not a schedule: " + answer.error;
      list.replaceChildren(...(answer.fires || []).map((fire) => {
        const item = document.createElement("li");
        item.textContent = fire.local + " (" + fire.utc + ")" + (fire.daylight_saving_change ? " — after a daylight-saving change" : "");
        return item;
      }));
    } catch (error) {
      text.textContent = "The preview is unavailable: " + error.message;
    }
  }

  const later = () => { clearTimeout(timer); timer = setTimeout(show, 250); };
  schedule.addEventListener("input", later);
  zone.addEventListener("input", later);
  show();
})();

// A running job's output, followed over server-sent events; the page reloads when it ends.
(() => {
  const state = document.querySelector("[data-live-run]");
  const output = document.getElementById("live-output");
  if (!state || !output || !window.EventSource) return;
  const events = new EventSource("/run/live?id=" + encodeURIComponent(state.dataset.liveRun));
  events.addEventListener("output", (event) => {
    const update = JSON.parse(event.data);
    const atBottom = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
    output.textContent = update.output;
    if (atBottom) output.scrollTop = output.scrollHeight;
  });
  events.addEventListener("end", () => {
    events.close();
    state.textContent = "The run has ended.";
    window.location.reload();
  });
  events.onerror = () => { state.textContent = "Reconnecting to follow the output…"; };
})();

// A box in the list's head that selects every task on the page (without the script, each is ticked).
(() => {
  const all = document.getElementById("select-all");
  if (!all) return;
  const boxes = () => document.querySelectorAll('input[type="checkbox"][form="bulk"]');
  all.hidden = false;
  all.addEventListener("change", () => boxes().forEach((box) => { box.checked = all.checked; }));
})();
