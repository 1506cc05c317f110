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
