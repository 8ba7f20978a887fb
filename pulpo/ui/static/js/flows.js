// The Flows page: every flow with its parameters, and a Run form per flow generated
// from the flow's parameter schema in the API's OpenAPI document.
import { api, cached, ApiError } from "./api.js";
import { h, clear, loading, empty, code } from "./dom.js";
import { SchemaForm } from "./forms.js";

export async function flowsPage(main, page) {
  clear(main, loading("the flows"));
  const graph = await cached("/api/v1/graph");
  if (!page.alive) return;
  if (!graph.flows.length) {
    clear(main, empty("No flows yet", "Add an ", code("@operation"), " and run ", code("pulpo build"), "."));
    return;
  }
  clear(main,
    h("h1", {}, "Flows"),
    h("p", { class: "sub" }, `${graph.flows.length} flows generated from the project's operations. Each runs on the worker.`),
    h("div", { class: "grid flows" }, graph.flows.map((flow) => h("article", { class: "card pad" },
      h("div", { class: "row" }, h("h2", {}, flow.name), h("span", { class: "spacer" }),
        h("a", { class: "btn", href: `#/flows/${flow.name}`, "aria-label": `Run ${flow.name}` }, "Run ▸")),
      h("p", { class: "kv" }, `${flow.operations.length} operation${flow.operations.length === 1 ? "" : "s"}`,
        flow.runs_flow ? [" · runs ", h("code", {}, flow.runs_flow), " first"] : null, ` · ${flow.task_runner}`),
      flow.parameters.length
        ? h("ul", { class: "kv" }, flow.parameters.map((p) => h("li", {}, h("code", {}, p.name), `: ${p.type}`,
          p.required ? " (required)" : ` = ${JSON.stringify(p.default)}`)))
        : h("p", { class: "kv" }, "No parameters."),
      h("p", {}, h("a", { href: `#/graph?flow=${flow.name}` }, "Show on the graph"))))));
}

export async function flowPage(main, page, name) {
  clear(main, loading(name));
  const [graph, openapi] = await Promise.all([cached("/api/v1/graph"), cached("/openapi.json")]);
  if (!page.alive) return;
  const flow = graph.flows.find((f) => f.name === name);
  const route = openapi.paths[`/api/v1/flows/${name}/runs`];
  if (!flow || !route) {
    clear(main, empty(`No flow ${name}`, h("a", { href: "#/flows" }, "See every flow"), "."));
    return;
  }
  const body = route.post.requestBody.content["application/json"].schema;
  const bodySchema = openapi.components.schemas[body.$ref.split("/").pop()];
  const form = new SchemaForm(openapi, bodySchema.properties.parameters, { idPrefix: "param" });
  const formError = h("div", { class: "form-error", role: "alert" });
  const submit = h("button", { class: "primary", type: "submit" }, "Run ", name);
  const el = h("form", {
    class: "card pad", style: "max-width: 640px", novalidate: true,
    onSubmit: async (e) => {
      e.preventDefault();
      form.clearErrors();
      formError.textContent = "";
      submit.disabled = true;
      try {
        const run = await api(`/api/v1/flows/${name}/runs`, { method: "POST", body: { parameters: form.values() } });
        location.hash = `#/runs/${run.run_id}`;
      } catch (error) {
        if (error instanceof ApiError && error.status === 422) {
          const left = form.showErrors(error.details);
          if (left.length) formError.textContent = error.message;
        } else formError.textContent = error.message;
      } finally {
        submit.disabled = false;
      }
    },
  }, formError, form.fields.length ? form.el : h("p", { class: "muted" }, "This flow takes no parameters."), h("div", { class: "row" }, submit,
    h("span", { class: "muted" }, "Starts a run on the worker; you will see it live.")));
  clear(main,
    h("p", {}, h("a", { href: "#/flows" }, "← Flows")),
    h("h1", {}, h("code", {}, name)),
    h("p", { class: "sub" }, bodySchema.description || "", ` Operations: `, flow.operations.join(", "), "."),
    el);
  const first = el.querySelector("input, select, textarea");
  if (first) first.focus();
}
