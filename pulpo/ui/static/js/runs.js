// The Runs page (a live list with filters, retry and cancel) and a run's own page
// (result, error, and its operations as a timeline).
import { api, cached } from "./api.js";
import { h, clear, loading, badge, when, duration, json, code } from "./dom.js";
import { config, poll } from "./page.js";

const STATUSES = ["pending", "processing", "completed", "failed", "cancelled"];
const FINAL = new Set(["completed", "failed", "cancelled"]);

function seconds(run) {
  if (!run.created_at) return null;
  const end = FINAL.has(run.status) ? new Date(run.updated_at) : new Date();
  return (end - new Date(run.created_at)) / 1000;
}

function actions(run, after) {
  const out = [];
  if (run.status === "failed" || run.status === "cancelled") {
    out.push(h("button", {
      class: "small", "aria-label": `Retry run ${run.name}`,
      onClick: async (e) => {
        e.target.disabled = true;
        const retry = await api(`/api/v1/runs/${run.run_id}/retry`, { method: "POST" });
        after(retry);
      },
    }, "↻ Retry"));
  }
  if (run.status === "pending" || run.status === "processing") {
    out.push(h("button", {
      class: "small danger", "aria-label": `Cancel run ${run.name}`,
      onClick: async (e) => {
        e.target.disabled = true;
        await api(`/api/v1/runs/${run.run_id}/cancel`, { method: "POST" });
        after(null);
      },
    }, "✕ Cancel"));
  }
  return out;
}

export async function runsPage(main, page) {
  const graph = await cached("/api/v1/graph");
  const status = page.params.get("status") || "";
  const flow = page.params.get("flow") || "";
  const setFilter = (key, value) => {
    const params = new URLSearchParams(page.params);
    if (value) params.set(key, value); else params.delete(key);
    const query = params.toString();
    location.hash = `#/runs${query ? `?${query}` : ""}`;
  };
  const body = h("div", { class: "card", id: "runs-table" }, loading("runs"));
  clear(main,
    h("div", { class: "row" }, h("h1", {}, "Runs"), h("span", { class: "spacer" }),
      h("label", { for: "filter-status", class: "muted" }, "Status"),
      h("select", { id: "filter-status", onChange: (e) => setFilter("status", e.target.value) },
        h("option", { value: "" }, "Any"), STATUSES.map((s) => h("option", { value: s, selected: s === status }, s))),
      h("label", { for: "filter-flow", class: "muted" }, "Flow"),
      h("select", { id: "filter-flow", onChange: (e) => setFilter("flow", e.target.value) },
        h("option", { value: "" }, "Any"), graph.flows.map((f) => h("option", { value: f.name, selected: f.name === flow }, f.name)))),
    h("p", { class: "sub" }, "Newest first; updates every 2 seconds."),
    body);
  const query = new URLSearchParams({ limit: "50" });
  if (status) query.set("status", status);
  if (flow) query.set("flow", flow);
  poll(page, 2000, async () => {
    const list = await api(`/api/v1/runs?${query}`);
    if (!page.alive) return;
    if (!list.items.length) {
      const example = graph.flows[0] ? graph.flows[0].name : "FLOW";
      clear(body, h("div", { class: "state" },
        h("h2", {}, status || flow ? "No runs match these filters" : "No runs yet"),
        h("p", {}, "Start one from ", h("a", { href: "#/flows" }, "Flows"), ", or from a shell: ",
          code(`pulpo prefect run ${example} --deployment`))));
      return;
    }
    const focused = document.activeElement && document.activeElement.closest("#runs-table") ? document.activeElement.getAttribute("aria-label") : null;
    clear(body, h("table", {},
      h("thead", {}, h("tr", {}, ["Status", "Flow", "Run", "Started", "Duration", "Parameters", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, list.items.map((run) => h("tr", { "data-run": run.run_id, "data-status": run.status },
        h("td", {}, badge(run.status)),
        h("td", {}, h("code", {}, run.flow)),
        h("td", {}, h("a", { href: `#/runs/${run.run_id}` }, run.name)),
        h("td", { title: run.created_at || "" }, when(run.created_at)),
        h("td", {}, duration(seconds(run))),
        h("td", { class: "params mono", title: JSON.stringify(run.parameters) }, JSON.stringify(run.parameters)),
        h("td", {}, h("div", { class: "row" }, actions(run, () => null))))))),
    list.unreadable.length ? h("p", { class: "pager" }, `${list.unreadable.length} runs left out: Prefect cannot return them.`) : null);
    if (focused) body.querySelector(`[aria-label="${CSS.escape(focused)}"]`)?.focus();
  });
}

export async function runPage(main, page, runId) {
  clear(main, loading("the run"));
  const cfg = await config;
  const head = h("div");
  const timeline = h("div", { class: "card pad", id: "timeline" }, loading("operations"));
  const outcome = h("div");
  clear(main, h("p", {}, h("a", { href: "#/runs" }, "← Runs")), head,
    h("h2", {}, "Operations"), timeline, outcome);
  let last = "";
  poll(page, 1500, async () => {
    const [run, ops] = await Promise.all([
      api(`/api/v1/runs/${runId}`),
      api(`/api/v1/runs/${runId}/operations`),
    ]);
    if (!page.alive) return;
    const stamp = JSON.stringify([run.status, run.updated_at, ops]);
    if (stamp === last) return;
    last = stamp;
    clear(head,
      h("div", { class: "row run-head" }, h("h1", {}, h("code", {}, run.flow), " · ", run.name), badge(run.status),
        h("span", { class: "muted" }, run.state), h("span", { class: "spacer" }),
        actions(run, (retry) => { if (retry) location.hash = `#/runs/${retry.run_id}`; }),
        h("a", { class: "btn", href: `#/graph?run=${run.run_id}` }, "Show on graph"),
        cfg.prefect_ui ? h("a", { class: "btn", href: `${cfg.prefect_ui}/runs/flow-run/${run.run_id}`, target: "_blank", rel: "noopener" }, "Open in Prefect ↗") : null),
      h("dl", { class: "facts card pad" },
        h("dt", {}, "run id"), h("dd", {}, h("code", {}, run.run_id)),
        h("dt", {}, "created"), h("dd", {}, run.created_at ? new Date(run.created_at).toLocaleString() : "–"),
        h("dt", {}, "duration"), h("dd", {}, duration(seconds(run))),
        run.retry_of ? [h("dt", {}, "retry of"), h("dd", {}, h("a", { href: `#/runs/${run.retry_of}` }, run.retry_of))] : null,
        h("dt", {}, "parameters"), h("dd", {}, h("code", {}, JSON.stringify(run.parameters)))));
    drawTimeline(timeline, ops.operations, run);
    clear(outcome,
      run.error ? [h("h2", {}, "Error"), h("pre", { class: "error", id: "run-error" }, run.error)] : null,
      run.status === "completed"
        ? [h("h2", {}, "Result"), h("details", { open: true }, h("summary", {}, "JSON"), json(run.result))]
        : null);
  });
}

function drawTimeline(el, ops, run) {
  if (!ops.length) {
    clear(el, h("p", { class: "muted" }, FINAL.has(run.status) ? "No operation ran." : "Waiting for the worker to start the run…"));
    return;
  }
  const starts = ops.map((o) => o.started_at && new Date(o.started_at).getTime()).filter(Boolean);
  const t0 = Math.min(...starts);
  const t1 = Math.max(...ops.map((o) => new Date(o.ended_at || Date.now()).getTime()), t0 + 1);
  const span = t1 - t0;
  clear(el, h("div", { class: "timeline", "aria-label": "Operations timeline" },
    ops.map((o) => {
      const a = o.started_at ? new Date(o.started_at).getTime() : t0;
      const b = o.ended_at ? new Date(o.ended_at).getTime() : t1;
      const bar = h("div", { class: `bar ${o.status}`, title: `${o.operation}: ${o.state}` });
      bar.style.left = `${((a - t0) / span) * 100}%`;
      bar.style.width = `${Math.max(0.4, ((b - a) / span) * 100)}%`;
      return [
        h("div", { class: "name" }, o.operation, o.task_runs > 1 ? h("span", { class: "muted" }, ` ×${o.task_runs}`) : null),
        h("div", { class: "track" }, bar),
        h("div", { class: "time" }, h("span", { class: `badge s-${o.status}`, style: "margin-right:6px" }, o.status), o.seconds === null ? "" : duration(o.seconds)),
      ];
    })),
  ops.filter((o) => o.error).map((o) => h("p", { class: "muted" }, h("code", {}, o.operation), ": ", o.error)));
}
