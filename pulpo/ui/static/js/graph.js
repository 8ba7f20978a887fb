// The Graph page: operations and datamodels laid out left to right by dagre, namespaces
// as groups (collapsed by default on big projects), flows to highlight, a search box.
import { api, cached } from "./api.js";
import { h, s, clear, loading, empty, code } from "./dom.js";

const COLLAPSE_ABOVE = 80; // operations: more, and namespaces start collapsed
// Operations drawn at once at most: dagre's layered layout grows faster than linearly
// (docs/benchmarks.md); opening more namespaces than this closes the others.
const DRAW_AT_MOST = 150;
const NODE_HEIGHT = 40;

export function namespaceOf(name) {
  const dot = name.indexOf(".");
  return dot > 0 ? name.slice(0, dot) : null;
}

let measure = null;
function textWidth(text, bold = false) {
  if (!measure) measure = document.createElement("canvas").getContext("2d");
  measure.font = `${bold ? 600 : 400} 12px system-ui, sans-serif`;
  return measure.measureText(text).width;
}

// Operations a flow runs, with the upstream ones it needs (their producers, transitively).
export function flowOperations(graph, flowName) {
  const flow = graph.flows.find((f) => f.name === flowName);
  if (!flow) return new Set();
  const ops = new Map(graph.operations.map((o) => [o.name, o]));
  const found = new Set();
  const stack = [...flow.operations, ...(flow.upstream || [])];
  while (stack.length) {
    const name = stack.pop();
    if (found.has(name) || !ops.has(name)) continue;
    found.add(name);
    stack.push(...ops.get(name).upstream);
  }
  return found;
}

export async function graphPage(main, page) {
  clear(main, loading("the graph"));
  const graph = await cached("/api/v1/graph");
  let states = null;
  const runId = page.params.get("run");
  if (runId) {
    const answer = await api(`/api/v1/runs/${encodeURIComponent(runId)}/operations`);
    states = new Map(answer.operations.map((o) => [o.operation, o.status]));
  }
  if (!page.alive) return;
  if (!graph.operations.length) {
    clear(main, empty("No operations yet", "Decorate a function with ", code("@operation"),
      " in one of the project's modules and run ", code("pulpo build"), "."));
    return;
  }
  new GraphView(main, graph, states, runId, page.params.get("flow"));
}

class GraphView {
  constructor(main, graph, states, runId, flow) {
    this.graph = graph;
    this.states = states;
    this.ops = new Map(graph.operations.map((o) => [o.name, o]));
    this.models = new Map(graph.models.map((m) => [m.name, m]));
    const spaces = new Set(graph.operations.map((o) => namespaceOf(o.name)).filter(Boolean));
    this.namespaces = [...spaces].sort();
    this.collapsed = new Set(graph.operations.length > COLLAPSE_ABOVE ? this.namespaces : []);
    this.flow = flow || "";
    this.highlight = this.flow ? flowOperations(graph, this.flow) : null;
    this.term = "";
    this.selected = null;
    this.t = { x: 0, y: 0, k: 1 };
    this.build(main, runId);
    this.render(true);
  }

  build(main, runId) {
    this.search = h("input", {
      type: "search", id: "graph-search", placeholder: "Search operations and models",
      "aria-label": "Search operations and models",
      onInput: (e) => { this.term = e.target.value.trim().toLowerCase(); this.paintMarks(); },
      onKeydown: (e) => { if (e.key === "Enter") this.revealFirstHit(); },
    });
    const flowSelect = h("select", {
      id: "graph-flow", "aria-label": "Highlight a flow",
      onChange: (e) => {
        this.flow = e.target.value;
        this.highlight = this.flow ? flowOperations(this.graph, this.flow) : null;
        const spaces = new Set([...(this.highlight || [])].map(namespaceOf).filter(Boolean));
        if (this.size(spaces) <= DRAW_AT_MOST) for (const ns of spaces) this.collapsed.delete(ns);
        this.render(true);
      },
    }, h("option", { value: "" }, "All flows"),
      this.graph.flows.map((f) => h("option", { value: f.name, selected: f.name === this.flow }, f.name)));
    const counts = h("span", {},
      `${this.graph.operations.length} operations · ${this.graph.models.length} models · ${this.namespaces.length} namespaces`);
    const tools = h("div", { class: "graph-tools" },
      h("label", { for: "graph-search", class: "muted" }, "Find"), this.search,
      h("label", { for: "graph-flow", class: "muted" }, "Flow"), flowSelect,
      h("button", {
        class: "small", disabled: this.graph.operations.length > DRAW_AT_MOST,
        title: this.graph.operations.length > DRAW_AT_MOST ? `More than ${DRAW_AT_MOST} operations: open namespaces one at a time` : null,
        onClick: () => { this.collapsed.clear(); this.render(true); },
      }, "Expand all"),
      h("button", { class: "small", onClick: () => { this.collapsed = new Set(this.namespaces); this.render(true); } }, "Collapse all"),
      h("span", { class: "spacer" }),
      runId ? h("span", {}, "Run ", h("a", { href: `#/runs/${runId}` }, runId.slice(0, 8)), " on the graph") : null);
    this.svg = s("svg", { role: "group", "aria-label": "Data-flow graph" });
    this.viewport = s("g");
    this.svg.append(defs(), this.viewport);
    this.canvas = h("div", {
      class: "canvas", tabindex: "0", "aria-label": "Graph canvas: arrow keys pan, plus and minus zoom, 0 fits",
      onKeydown: (e) => this.keys(e),
    }, this.svg,
    h("div", { class: "zoom" },
      h("button", { "aria-label": "Zoom in", onClick: () => this.zoomBy(1.25) }, "+"),
      h("button", { "aria-label": "Zoom out", onClick: () => this.zoomBy(0.8) }, "−"),
      h("button", { "aria-label": "Fit to screen", onClick: () => this.fit() }, "⤢")),
    h("div", { class: "legend" },
      h("span", {}, h("i", { style: "border-color:#8a7cf0;background:#fff" }), "operation"),
      h("span", {}, h("i", { style: "border-color:#d39b2a;background:#fff8e8" }), "model"),
      h("span", {}, h("i", { style: "border-color:#2e9a66;background:#e9f7f0" }), "document"),
      h("span", {}, h("i", { style: "border-color:#5b3fe0;background:#ece8ff;border-style:dashed" }), "namespace"),
      counts));
    this.side = h("aside", { class: "graph-side", "aria-label": "Details", "aria-live": "polite" });
    this.showHint();
    clear(main, h("div", { class: "graph-main" }, tools, this.canvas), this.side);
    this.panZoom();
  }

  // How many operations the namespaces ``spaces`` hold.
  size(spaces) {
    return this.graph.operations.filter((o) => spaces.has(namespaceOf(o.name))).length;
  }

  // Opens namespace ``ns``; closes the others first if too much would be drawn.
  open(ns) {
    const open = new Set(this.namespaces.filter((n) => !this.collapsed.has(n)));
    open.add(ns);
    if (this.size(open) > DRAW_AT_MOST) this.collapsed = new Set(this.namespaces);
    this.collapsed.delete(ns);
  }

  // The node an operation is drawn as: itself, or its collapsed namespace.
  repOp(name) {
    const ns = namespaceOf(name);
    return ns && this.collapsed.has(ns) ? `ns:${ns}` : `op:${name}`;
  }

  // A model made only inside one collapsed namespace is drawn inside it too.
  repModel(model) {
    const owners = new Set(model.producers.map((p) => this.repOp(p)));
    if (owners.size === 1) {
      const [only] = owners;
      if (only.startsWith("ns:")) return only;
    }
    return `m:${model.name}`;
  }

  layout() {
    const g = new dagre.graphlib.Graph({ compound: true });
    g.setGraph({ rankdir: "LR", nodesep: 22, ranksep: 64, edgesep: 10, marginx: 30, marginy: 40 });
    g.setDefaultEdgeLabel(() => ({}));
    const size = (label, kind) => ({
      width: Math.max(textWidth(label, true), textWidth(kind)) + 30, height: NODE_HEIGHT,
    });
    for (const ns of this.namespaces) {
      if (this.collapsed.has(ns)) {
        const count = this.graph.operations.filter((o) => namespaceOf(o.name) === ns).length;
        const kind = `namespace · ${count} operations`;
        g.setNode(`ns:${ns}`, { kind: "ns", name: ns, label: `${ns}.*`, sub: kind, ...size(`${ns}.*`, kind) });
      } else {
        g.setNode(`cl:${ns}`, { kind: "cluster", name: ns });
      }
    }
    for (const op of this.graph.operations) {
      const id = this.repOp(op.name);
      if (id.startsWith("op:")) {
        const sub = op.map_over ? `operation · maps over ${op.map_over.parameter}` : "operation";
        g.setNode(id, { kind: "op", name: op.name, label: op.name, sub, ...size(op.name, sub) });
        const ns = namespaceOf(op.name);
        if (ns) g.setParent(id, `cl:${ns}`);
      }
    }
    const edges = new Set();
    const link = (a, b) => {
      if (a !== b && !edges.has(`${a}\u0000${b}`)) {
        edges.add(`${a}\u0000${b}`);
        g.setEdge(a, b);
      }
    };
    for (const model of this.graph.models) {
      const id = this.repModel(model);
      if (id.startsWith("m:")) {
        const sub = model.document ? "document" : "model";
        g.setNode(id, { kind: "model", name: model.name, document: model.document, label: model.name, sub, ...size(model.name, sub) });
      }
      for (const p of model.producers) link(this.repOp(p), id);
      for (const c of model.consumers) link(id, this.repOp(c));
    }
    dagre.layout(g);
    return g;
  }

  render(fit) {
    const g = this.layout();
    this.g = g;
    this.nodes = new Map();
    const clusters = s("g");
    const edges = s("g");
    const nodes = s("g");
    for (const id of g.nodes()) {
      const n = g.node(id);
      if (n.kind === "cluster") {
        clusters.append(s("g", { class: "cluster" },
          s("rect", { x: n.x - n.width / 2, y: n.y - n.height / 2 - 8, width: n.width, height: n.height + 8, rx: 10 }),
          s("text", {
            x: n.x - n.width / 2 + 10, y: n.y - n.height / 2 + 6, tabindex: "0", role: "button",
            "aria-label": `Collapse namespace ${n.name}`,
            onClick: () => { this.collapsed.add(n.name); this.render(false); },
            onKeydown: (e) => { if (e.key === "Enter") { this.collapsed.add(n.name); this.render(false); } },
          }, `${n.name} ▾`)));
      }
    }
    for (const e of g.edges()) {
      const pts = g.edge(e).points;
      const d = pts.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
      const path = s("path", { class: "edge", d, "marker-end": "url(#arrow)" });
      path.dataset.v = e.v;
      path.dataset.w = e.w;
      edges.append(path);
    }
    for (const id of g.nodes()) {
      const n = g.node(id);
      if (n.kind === "cluster") continue;
      const classes = ["node", n.kind];
      if (n.document) classes.push("document");
      const el = s("g", {
        class: classes.join(" "), transform: `translate(${n.x - n.width / 2},${n.y - n.height / 2})`,
        tabindex: "0", role: "button", "data-id": id, "data-name": n.name,
        "aria-label": `${n.sub} ${n.label}`,
        onClick: () => this.select(id),
        onKeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); this.select(id); } },
      },
      s("rect", { width: n.width, height: n.height, rx: n.kind === "model" ? 18 : 6 }),
      s("text", { x: 14, y: 16, class: "kind" }, n.sub),
      s("text", { x: 14, y: 31, "font-weight": "600" }, n.label));
      this.nodes.set(id, el);
      nodes.append(el);
    }
    clear(this.viewport, clusters, edges, nodes);
    this.paintMarks();
    if (fit) this.fit();
  }

  // Flow highlight, search hits and a run's states, as classes on the drawn nodes.
  paintMarks() {
    const term = this.term;
    const inFlow = (id) => {
      if (!this.highlight) return true;
      const n = this.g.node(id);
      if (n.kind === "op") return this.highlight.has(n.name);
      if (n.kind === "ns") return [...this.highlight].some((o) => namespaceOf(o) === n.name);
      const model = this.models.get(n.name);
      return [...model.producers, ...model.consumers].some((o) => this.highlight.has(o));
    };
    const matches = (id) => {
      const n = this.g.node(id);
      if (n.kind === "ns") {
        return this.graph.operations.some((o) => namespaceOf(o.name) === n.name && o.name.toLowerCase().includes(term));
      }
      return n.name.toLowerCase().includes(term);
    };
    this.hits = [];
    for (const [id, el] of this.nodes) {
      const hit = term && matches(id);
      if (hit) this.hits.push(id);
      el.classList.toggle("hit", Boolean(hit));
      el.classList.toggle("dim", !inFlow(id) || Boolean(term && !hit));
      el.classList.toggle("selected", id === this.selected);
      if (this.states) {
        const n = this.g.node(id);
        if (n.kind === "op") {
          const st = this.states.get(n.name);
          el.classList.add(st ? `st-${st}` : "st-none");
        }
      }
    }
    for (const path of this.viewport.querySelectorAll("path.edge")) {
      const lit = !this.highlight || (inFlow(path.dataset.v) && inFlow(path.dataset.w));
      path.classList.toggle("dim", !lit || Boolean(term));
    }
  }

  revealFirstHit() {
    if (!this.hits || !this.hits.length) return;
    let id = this.hits[0];
    if (id.startsWith("ns:")) {
      this.open(id.slice(3));
      this.render(false);
      id = this.hits.find((x) => x.startsWith("op:")) || this.hits[0];
    }
    this.select(id);
    this.centerOn(id);
    this.nodes.get(id)?.focus();
  }

  select(id) {
    this.selected = id;
    const n = this.g.node(id);
    if (n.kind === "ns") {
      this.open(n.name);
      this.render(true);
      this.selected = null;
      this.showNamespace(n.name);
      return;
    }
    this.paintMarks();
    if (n.kind === "op") this.showOperation(this.ops.get(n.name));
    else this.showModel(this.models.get(n.name));
  }

  showHint() {
    clear(this.side, h("h2", { style: "margin-top:0" }, "Details"),
      h("p", { class: "muted" }, "Click an operation or a model (or focus it and press Enter) to see its signature, inputs, outputs and policy."),
      h("p", { class: "muted" }, "Choose a flow above to highlight the operations it runs, including the upstream ones it needs. Click a namespace to open it."));
  }

  showNamespace(ns) {
    const ops = this.graph.operations.filter((o) => namespaceOf(o.name) === ns);
    clear(this.side, h("h2", { style: "margin-top:0" }, h("code", {}, `${ns}.*`)),
      h("p", { class: "muted" }, `${ops.length} operations`),
      h("ul", {}, ops.map((o) => h("li", {}, h("code", {}, o.name)))));
  }

  showOperation(op) {
    const params = new Map();
    for (const flow of this.graph.flows) {
      for (const p of flow.parameters) {
        if (p.operations.includes(op.name) && !params.has(p.name)) params.set(p.name, p);
      }
    }
    const inputs = this.graph.edges.filter((e) => e.consumer === op.name);
    const inputParams = new Map();
    for (const e of inputs) {
      if (!inputParams.has(e.parameter)) inputParams.set(e.parameter, { model: e.model, from: [] });
      inputParams.get(e.parameter).from.push(e.producer);
    }
    const fn = op.function.split(".").pop();
    const args = [
      ...[...inputParams].map(([name, v]) => `${name}: ${v.model}`),
      ...[...params.values()].map((p) => `${p.name}: ${p.type}${p.required ? "" : ` = ${JSON.stringify(p.default)}`}`),
      ...Object.entries(op.resources || {}).map(([name, r]) => `${name}: <resource ${r}>`),
    ];
    const signature = `def ${fn}(${args.length ? "\n    " + args.join(",\n    ") + ",\n" : ""}) -> ${op.output || "None"}`;
    const policy = op.policy || {};
    const output = op.output ? this.models.get(op.output) : null;
    clear(this.side,
      h("h2", { style: "margin-top:0" }, h("code", {}, op.name)),
      op.description ? h("p", {}, op.description) : h("p", { class: "muted" }, "No docstring."),
      h("pre", { class: "json", "aria-label": "Signature" }, signature),
      h("h3", {}, "Inputs"),
      inputParams.size
        ? h("ul", {}, [...inputParams].map(([name, v]) => h("li", {}, h("code", {}, name), " ← ", h("b", {}, v.model), " from ", v.from.map((f, i) => [i ? ", " : "", h("code", {}, f)]))))
        : h("p", { class: "muted" }, "None: it starts a flow."),
      params.size ? [h("h3", {}, "Parameters"), h("ul", {}, [...params.values()].map((p) => h("li", {}, h("code", {}, p.name), `: ${p.type}`, p.required ? " (required)" : ` = ${JSON.stringify(p.default)}`)))] : null,
      h("h3", {}, "Output"),
      output ? h("p", {}, h("b", {}, output.name), output.consumers.length ? [" → ", output.consumers.map((c, i) => [i ? ", " : "", h("code", {}, c)])] : " (nothing consumes it)") : h("p", { class: "muted" }, "None"),
      h("h3", {}, "Policy"),
      h("dl", { class: "facts" },
        h("dt", {}, "retries"), h("dd", {}, String(policy.retries ?? 0)),
        policy.retry_delays && policy.retry_delays.length ? [h("dt", {}, "retry delays"), h("dd", {}, policy.retry_delays.map((d) => `${d} s`).join(", "))] : null,
        policy.retry_on && policy.retry_on.length ? [h("dt", {}, "retry on"), h("dd", {}, policy.retry_on.join(", "))] : null,
        h("dt", {}, "timeout"), h("dd", {}, policy.timeout ? `${policy.timeout} s` : "none"),
        op.map_over ? [h("dt", {}, "maps over"), h("dd", {}, h("code", {}, op.map_over.parameter), " ← each of ", h("code", {}, op.map_over.source), op.map_over.max_concurrency ? `, ${op.map_over.max_concurrency} at once` : "")] : null,
        op.tags && op.tags.length ? [h("dt", {}, "tags"), h("dd", {}, op.tags.join(", "))] : null),
      h("h3", {}, "Where"),
      h("dl", { class: "facts" },
        h("dt", {}, "function"), h("dd", {}, h("code", {}, op.function)),
        h("dt", {}, "flow"), h("dd", {}, h("a", { href: `#/flows/${op.flow}` }, op.flow))),
      h("p", {}, h("a", { class: "btn", href: `#/flows/${op.flow}` }, `Run ${op.flow}…`)));
  }

  showModel(model) {
    clear(this.side,
      h("h2", { style: "margin-top:0" }, h("code", {}, model.name)),
      h("p", {}, h("span", { class: "tag" }, model.document ? "Beanie document" : "datamodel"), " ", h("code", { class: "muted" }, model.class)),
      h("h3", {}, "Made by"),
      model.producers.length ? h("ul", {}, model.producers.map((p) => h("li", {}, h("code", {}, p)))) : h("p", { class: "muted" }, "No operation"),
      h("h3", {}, "Used by"),
      model.consumers.length ? h("ul", {}, model.consumers.map((p) => h("li", {}, h("code", {}, p)))) : h("p", { class: "muted" }, "No operation"),
      model.document ? h("p", {}, h("a", { class: "btn", href: "#/data" }, "Browse its documents")) : null);
  }

  // Pan (drag, arrow keys) and zoom (wheel, +/-), around the pointer.
  panZoom() {
    let drag = null;
    this.canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = this.canvas.getBoundingClientRect();
      this.zoomBy(Math.exp(-e.deltaY * 0.0015), e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
    this.canvas.addEventListener("pointerdown", (e) => {
      if (e.target.closest("g.node, button, .cluster text")) return;
      drag = { x: e.clientX, y: e.clientY, t: { ...this.t } };
      this.canvas.classList.add("dragging");
      this.canvas.setPointerCapture(e.pointerId);
    });
    this.canvas.addEventListener("pointermove", (e) => {
      if (!drag) return;
      this.t.x = drag.t.x + e.clientX - drag.x;
      this.t.y = drag.t.y + e.clientY - drag.y;
      this.apply();
    });
    const end = () => { drag = null; this.canvas.classList.remove("dragging"); };
    this.canvas.addEventListener("pointerup", end);
    this.canvas.addEventListener("pointercancel", end);
  }

  keys(e) {
    if (e.target !== this.canvas) return;
    const step = 60;
    const moves = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    if (moves[e.key]) {
      this.t.x += moves[e.key][0];
      this.t.y += moves[e.key][1];
      this.apply();
    } else if (e.key === "+" || e.key === "=") this.zoomBy(1.25);
    else if (e.key === "-") this.zoomBy(0.8);
    else if (e.key === "0") this.fit();
    else return;
    e.preventDefault();
  }

  zoomBy(factor, cx, cy) {
    const r = this.canvas.getBoundingClientRect();
    cx = cx ?? r.width / 2;
    cy = cy ?? r.height / 2;
    const k = Math.min(3, Math.max(0.05, this.t.k * factor));
    this.t.x = cx - ((cx - this.t.x) * k) / this.t.k;
    this.t.y = cy - ((cy - this.t.y) * k) / this.t.k;
    this.t.k = k;
    this.apply();
  }

  fit() {
    const { width, height } = this.g.graph();
    const r = this.canvas.getBoundingClientRect();
    const k = Math.min(1.4, Math.max(0.05, Math.min(r.width / (width || 1), r.height / (height || 1)) * 0.95));
    this.t = { k, x: (r.width - width * k) / 2, y: (r.height - height * k) / 2 };
    this.apply();
  }

  centerOn(id) {
    const n = this.g.node(id);
    const r = this.canvas.getBoundingClientRect();
    this.t.k = Math.max(this.t.k, 0.8);
    this.t.x = r.width / 2 - n.x * this.t.k;
    this.t.y = r.height / 2 - n.y * this.t.k;
    this.apply();
  }

  apply() {
    this.viewport.setAttribute("transform", `translate(${this.t.x},${this.t.y}) scale(${this.t.k})`);
  }
}

function defs() {
  return s("defs", {}, s("marker", {
    id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse",
  }, s("path", { d: "M0,0 L10,5 L0,10 z", fill: "#9aa1b5" })));
}
