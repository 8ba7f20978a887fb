// The shell: routing by location.hash, the status bar and the health dots.
import { api, ApiDown } from "./api.js";
import { h, clear, code } from "./dom.js";
import { config, downState } from "./page.js";
import { graphPage } from "./graph.js";
import { flowsPage, flowPage } from "./flows.js";
import { runsPage, runPage } from "./runs.js";
import { dataPage } from "./data.js";
import { healthPage } from "./health.js";

const main = document.getElementById("main");
const bar = document.getElementById("statusbar");
const dots = document.getElementById("health-dots");

const ROUTES = [
  [/^\/graph$/, graphPage, "graph"],
  [/^\/flows$/, flowsPage, "flows"],
  [/^\/flows\/([^/]+)$/, flowPage, "flows"],
  [/^\/runs$/, runsPage, "runs"],
  [/^\/runs\/([^/]+)$/, runPage, "runs"],
  [/^\/data$/, dataPage, "data"],
  [/^\/data\/([^/]+)$/, dataPage, "data"],
  [/^\/health$/, healthPage, "health"],
];

let current = null; // { alive, cleanups }

async function route() {
  if (current) {
    current.alive = false;
    current.cleanups.forEach((f) => f());
  }
  const raw = location.hash.replace(/^#/, "") || "/graph";
  const [path, query] = raw.split("?");
  const params = new URLSearchParams(query || "");
  const found = ROUTES.find(([pattern]) => pattern.test(path));
  if (!found) {
    location.hash = "#/graph";
    return;
  }
  const [pattern, render, name] = found;
  const args = path.match(pattern).slice(1).map(decodeURIComponent);
  document.querySelectorAll("nav a").forEach((a) => {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  main.className = name === "graph" ? "full" : "";
  const page = {
    alive: true,
    cleanups: [],
    params,
    onError: (error) => clear(main, downState(error)),
    rerender: () => route(),
  };
  current = page;
  clear(main);
  try {
    await render(main, page, ...args);
  } catch (error) {
    if (page.alive) {
      page.onError(error);
      // Try again while the page is shown: it comes back once the service does.
      const retry = setTimeout(() => page.alive && route(), 3000);
      page.cleanups.push(() => clearTimeout(retry));
    }
  }
}

// The status bar of seed 002: runs pending or processing, recent failures.
let lastStatus = "";
async function statusBar() {
  try {
    const s = await api("/api/v1/processing-status");
    bar.classList.remove("down");
    // Redrawn only on a change: screen readers announce the bar (aria-live).
    const key = JSON.stringify(s);
    if (key === lastStatus) {
      setTimeout(statusBar, 2000);
      return;
    }
    lastStatus = key;
    const items = [];
    const pulse = () => h("span", { class: "pulse", "aria-hidden": "true" });
    items.push(h("span", { class: "item" }, s.processing_count ? pulse() : null,
      h("b", {}, String(s.processing_count)), " processing"));
    items.push(h("span", { class: "item" }, s.pending_count > 0 && !s.processing_count ? pulse() : null,
      h("b", {}, String(s.pending_count)), " pending"));
    items.push(h("span", { class: "item" }, h("b", {}, String(s.completed_count)), " completed"));
    items.push(h("span", { class: "item" }, h("b", {}, String(s.failed_count)), " failed"));
    if (s.recent_failures.length) {
      const last = s.recent_failures[0];
      items.push(h("span", { class: "item", style: "color: var(--bad)" }, "Latest failure: ",
        h("a", { href: `#/runs/${last.run_id}` }, `${last.flow} · ${last.name}`)));
    }
    if (!s.show_status && !s.total_count) items.unshift(h("span", { class: "item" }, "Idle: no runs yet"));
    clear(bar, ...items);
  } catch (error) {
    lastStatus = "";
    bar.classList.add("down");
    if (error instanceof ApiDown) {
      clear(bar, h("span", {}, `${error.service} is down: run `, code(error.fix)));
    } else {
      clear(bar, h("span", {}, error.message));
    }
  }
  setTimeout(statusBar, 2000);
}

async function healthDots() {
  let checks = {};
  try {
    const answer = await api("/health", { raw: true });
    checks = { api: { ok: true }, ...(answer.data && answer.data.checks) };
  } catch (error) {
    checks = { api: { ok: false } };
  }
  clear(dots, ...["db", "prefect", "worker", "api"].map((name) => {
    const ok = checks[name] ? checks[name].ok : null;
    return h("i", { class: ok === null ? "" : ok ? "ok" : "bad", title: `${name}: ${ok ? "ok" : "down"}` });
  }));
  setTimeout(healthDots, 5000);
}

config.then((c) => {
  if (c.project) {
    document.getElementById("project").textContent = c.project;
    document.title = `${c.project} · pulpo`;
  }
});
window.addEventListener("hashchange", route);
route();
statusBar();
healthDots();
