// What every page shares: the UI's config, the "service down" state, polling.
import { ApiDown } from "./api.js";
import { h, code } from "./dom.js";

export const config = fetch("/ui/config").then((r) => r.json()).catch(() => ({}));

// What every page shows when a call fails because a service is down.
export function downState(error) {
  if (error instanceof ApiDown) {
    return h("div", { class: "state down", role: "alert" },
      h("div", { class: "big", "aria-hidden": "true" }, "⚠"),
      h("h2", {}, `The ${error.service} is down`),
      h("p", {}, `${error.service === "api" ? "api is down" : "ui is down"}: run `, code(error.fix),
        " to start it. This page retries on its own."));
  }
  return h("div", { class: "state down", role: "alert" },
    h("h2", {}, "Something went wrong"), h("p", {}, error.message || String(error)));
}

// Calls ``tick`` now and every ``ms`` while the page is shown; errors go to ``onError``.
export function poll(page, ms, tick) {
  let timer = null;
  const run = async () => {
    if (!page.alive) return;
    try {
      await tick();
      if (page.failed && page.alive) {
        page.rerender(); // the service is back: draw the page afresh
        return;
      }
    } catch (error) {
      if (page.alive) {
        page.failed = true;
        page.onError(error);
      }
    }
    if (page.alive) timer = setTimeout(run, document.hidden ? ms * 3 : ms);
  };
  run();
  page.cleanups.push(() => clearTimeout(timer));
}

