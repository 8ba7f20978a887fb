// The Data page: every Beanie document collection the API serves, as a paged table
// with sorting and the API's equality filters; create, edit and delete in a dialog.
import { api, cached, ApiError } from "./api.js";
import { h, clear, loading, empty, code } from "./dom.js";
import { SchemaForm, resolve } from "./forms.js";

const PAGE = 25;

function collections(openapi) {
  return Object.keys(openapi.paths)
    .filter((p) => /^\/api\/v1\/[a-z0-9-]+$/.test(p) && openapi.paths[`${p}/{id}`] && openapi.paths[p].post)
    .map((p) => p.split("/").pop());
}

export async function dataPage(main, page, name) {
  clear(main, loading("the collections"));
  const openapi = await cached("/openapi.json");
  if (!page.alive) return;
  const names = collections(openapi);
  if (!names.length) {
    clear(main, h("h1", {}, "Data"), empty("No document collections",
      "A ", code("@datamodel"), " that subclasses Beanie's ", code("Document"), " gets a collection here."));
    return;
  }
  if (!name) {
    location.hash = `#/data/${names[0]}`;
    return;
  }
  const path = `/api/v1/${name}`;
  const route = openapi.paths[path];
  if (!route) {
    clear(main, empty(`No collection ${name}`, h("a", { href: "#/data" }, "See every collection")));
    return;
  }
  const pageSchema = resolve(openapi, route.get.responses["200"].content["application/json"].schema);
  const itemSchema = resolve(openapi, pageSchema.properties.items.items);
  const columns = Object.keys(itemSchema.properties);
  const queryParams = route.get.parameters || [];
  const sortable = new Set(((queryParams.find((p) => p.name === "sort") || {}).schema?.anyOf?.[0]?.enum || []).filter((v) => !v.startsWith("-")));
  const filters = queryParams.filter((p) => !["skip", "limit", "sort"].includes(p.name));
  const state = { skip: Number(page.params.get("skip") || 0), sort: page.params.get("sort") || "", filter: {} };
  for (const f of filters) if (page.params.get(f.name)) state.filter[f.name] = page.params.get(f.name);

  const go = (changes) => {
    const next = { ...state, ...changes };
    const q = new URLSearchParams();
    if (next.skip) q.set("skip", String(next.skip));
    if (next.sort) q.set("sort", next.sort);
    for (const [k, v] of Object.entries(next.filter)) if (v !== "") q.set(k, v);
    const text = q.toString();
    location.hash = `#/data/${name}${text ? `?${text}` : ""}`;
  };

  const table = h("div", { class: "card", id: "data-table" }, loading(name));
  const filterForm = h("form", {
    class: "row", style: "margin-bottom: 12px", "aria-label": "Filters",
    onSubmit: (e) => {
      e.preventDefault();
      const filter = {};
      for (const f of filters) {
        const v = e.target.elements[`filter-${f.name}`].value.trim();
        if (v) filter[f.name] = v;
      }
      go({ filter, skip: 0 });
    },
  }, filters.map((f) => h("span", { class: "row", style: "gap:4px" },
    h("label", { for: `filter-${f.name}`, class: "muted" }, f.name),
    h("input", { id: `filter-${f.name}`, name: `filter-${f.name}`, value: state.filter[f.name] || "", size: "12", placeholder: "equals…" }))),
  filters.length ? h("button", { type: "submit" }, "Filter") : null,
  Object.keys(state.filter).length ? h("button", { type: "button", onClick: () => go({ filter: {}, skip: 0 }) }, "Clear") : null);

  clear(main,
    h("div", { class: "row" }, h("h1", {}, "Data"), h("span", { class: "spacer" }),
      h("label", { for: "collection", class: "muted" }, "Collection"),
      h("select", { id: "collection", onChange: (e) => { location.hash = `#/data/${e.target.value}`; } },
        names.map((n) => h("option", { value: n, selected: n === name }, n))),
      h("button", { class: "primary", onClick: () => edit(openapi, name, null, refresh) }, "+ New")),
    h("p", { class: "sub" }, itemSchema.description || ""),
    filterForm, table);

  async function refresh() {
    const q = new URLSearchParams({ skip: String(state.skip), limit: String(PAGE) });
    if (state.sort) q.set("sort", state.sort);
    for (const [k, v] of Object.entries(state.filter)) q.set(k, v);
    const data = await api(`${path}?${q}`);
    if (!page.alive) return;
    if (!data.items.length) {
      clear(table, h("div", { class: "state" }, h("h2", {}, Object.keys(state.filter).length ? "No documents match" : `No ${name} yet`),
        h("p", {}, "Runs that store documents fill this table; or create one with + New.")));
      return;
    }
    const header = (col) => {
      if (!sortable.has(col)) return h("th", { scope: "col" }, col);
      const dir = state.sort === col ? "ascending" : state.sort === `-${col}` ? "descending" : "none";
      return h("th", { scope: "col", "aria-sort": dir },
        h("button", { class: "sort", onClick: () => go({ sort: state.sort === col ? `-${col}` : col, skip: 0 }) },
          col, dir === "ascending" ? "▲" : dir === "descending" ? "▼" : ""));
    };
    clear(table, h("table", {},
      h("thead", {}, h("tr", {}, columns.map(header), h("th", {}, ""))),
      h("tbody", {}, data.items.map((doc) => h("tr", {},
        columns.map((c) => h("td", { class: c === "id" ? "mono muted" : "" }, cell(doc[c]))),
        h("td", {}, h("div", { class: "row", style: "flex-wrap:nowrap" },
          h("button", { class: "small", "aria-label": `Edit ${doc.id}`, onClick: () => edit(openapi, name, doc, refresh) }, "Edit"),
          h("button", { class: "small danger", "aria-label": `Delete ${doc.id}`, onClick: async () => {
            if (!confirm(`Delete ${doc.id}?`)) return;
            await api(`${path}/${doc.id}`, { method: "DELETE" });
            refresh();
          } }, "Delete"))))))),
    h("div", { class: "pager" },
      `${data.skip + 1}–${data.skip + data.items.length} of ${data.total}`, h("span", { class: "spacer" }),
      h("button", { class: "small", disabled: data.skip === 0, onClick: () => go({ skip: Math.max(0, data.skip - PAGE) }) }, "← Previous"),
      h("button", { class: "small", disabled: data.skip + data.items.length >= data.total, onClick: () => go({ skip: data.skip + data.items.length }) }, "Next →")));
  }
  await refresh();
}

function cell(value) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "–");
  if (typeof value === "object") return h("code", {}, JSON.stringify(value).slice(0, 120));
  const text = String(value);
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

// A dialog to create (doc = null) or edit a document; 422s appear at the fields.
function edit(openapi, name, doc, done) {
  const path = `/api/v1/${name}`;
  const route = doc ? openapi.paths[`${path}/{id}`].patch : openapi.paths[path].post;
  const schema = route.requestBody.content["application/json"].schema;
  const form = new SchemaForm(openapi, schema, { values: doc, idPrefix: "doc", partial: Boolean(doc) });
  const formError = h("div", { class: "form-error", role: "alert" });
  const dialog = h("dialog", { "aria-label": doc ? `Edit ${doc.id}` : `New document in ${name}` });
  const save = h("button", { class: "primary", type: "submit" }, doc ? "Save" : "Create");
  dialog.append(h("form", {
    novalidate: true,
    onSubmit: async (e) => {
      e.preventDefault();
      form.clearErrors();
      formError.textContent = "";
      save.disabled = true;
      try {
        if (doc) await api(`${path}/${doc.id}`, { method: "PATCH", body: form.values({ changedOnly: true }) });
        else await api(path, { method: "POST", body: form.values() });
        dialog.close();
        done();
      } catch (error) {
        if (error instanceof ApiError && error.status === 422) {
          if (form.showErrors(error.details).length) formError.textContent = error.message;
        } else formError.textContent = error.message;
      } finally {
        save.disabled = false;
      }
    },
  }, h("h2", { style: "margin-top:0" }, doc ? `Edit ${name}` : `New in ${name}`),
  doc ? h("p", { class: "muted mono" }, doc.id) : null,
  formError, form.el,
  h("div", { class: "row" }, save, h("button", { type: "button", onClick: () => dialog.close() }, "Cancel"))));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

