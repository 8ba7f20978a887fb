// The Health page: db, prefect, worker and api, the pool's workers, and run counts.
import { api } from "./api.js";
import { h, clear, loading, when, code } from "./dom.js";
import { config, poll } from "./page.js";

const FIX = {
  db: "pulpo db start",
  prefect: "pulpo prefect start",
  worker: "pulpo worker start",
  api: "pulpo api start",
};

export async function healthPage(main, page) {
  clear(main, loading("the health checks"));
  const cfg = await config;
  const cards = h("div", { class: "grid", id: "health-cards" });
  const workers = h("div");
  const counts = h("div");
  clear(main, h("h1", {}, "Health"),
    h("p", { class: "sub" }, "The project's services, checked every 3 seconds. ", code("pulpo status"), " shows the same from a shell."),
    cards, h("h2", {}, "Worker"), workers, h("h2", {}, "Runs"), counts,
    h("h2", {}, "Elsewhere"),
    h("p", {}, cfg.prefect_ui ? h("a", { href: cfg.prefect_ui, target: "_blank", rel: "noopener" }, "Prefect UI ↗") : null,
      " · ", cfg.api ? h("a", { href: `${cfg.api}/docs`, target: "_blank", rel: "noopener" }, "API docs ↗") : null));
  poll(page, 3000, async () => {
    const answer = await api("/health", { raw: true });
    const [worker, status] = await Promise.all([
      api("/api/v1/worker-status").catch(() => null),
      api("/api/v1/processing-status").catch(() => null),
    ]);
    if (!page.alive) return;
    const checks = { api: { ok: true, detail: cfg.api || "" }, ...(answer.data ? answer.data.checks : {}) };
    clear(cards, ["api", "db", "prefect", "worker"].map((name) => {
      const c = checks[name] || { ok: false, detail: "unknown" };
      return h("div", { class: "card pad", "data-service": name },
        h("div", { class: "row" }, h("h2", { style: "margin:0" }, name), h("span", { class: "spacer" }),
          h("span", { class: `badge ${c.ok ? "s-completed" : "s-failed"}` }, c.ok ? "ok" : "down")),
        h("p", { class: "kv" }, c.detail || (c.ok ? "answers" : "")),
        c.ok ? null : h("p", {}, "Fix: ", code(FIX[name])));
    }));
    clear(workers, worker
      ? h("div", { class: "card pad" }, h("p", { class: "kv", style: "margin-top:0" }, "Work pool ", h("code", {}, worker.pool)),
        worker.workers.length
          ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "name"), h("th", {}, "status"), h("th", {}, "last heartbeat"))),
            h("tbody", {}, worker.workers.map((w) => h("tr", {}, h("td", {}, h("code", {}, w.name)), h("td", {}, w.status), h("td", {}, when(w.last_heartbeat))))))
          : h("p", {}, "No worker polls this pool: ", code("pulpo worker start")))
      : h("p", { class: "muted" }, "Unknown: Prefect does not answer."));
    clear(counts, status
      ? h("div", { class: "row" }, ["pending", "processing", "completed", "failed", "cancelled"].map((k) =>
        h("div", { class: "card pad", style: "min-width:120px" }, h("div", { class: "kv" }, k),
          h("div", { style: "font-size:22px;font-weight:650" }, String(status[`${k}_count`])))))
      : h("p", { class: "muted" }, "Unknown."));
  });
}
