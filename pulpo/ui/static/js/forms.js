// Forms generated from JSON schemas in the API's OpenAPI document; a 422's details are
// shown next to the field they name.
import { h } from "./dom.js";

export function resolve(openapi, schema) {
  let seen = 0;
  while (schema && schema.$ref && seen++ < 20) {
    schema = openapi.components.schemas[schema.$ref.split("/").pop()];
  }
  return schema || {};
}

// The one non-null branch of ``X | None``, and whether None is allowed.
function unwrap(openapi, schema) {
  schema = resolve(openapi, schema);
  const options = schema.anyOf || schema.oneOf;
  if (!options) return { schema, nullable: false };
  const real = options.filter((o) => o.type !== "null");
  const nullable = real.length < options.length;
  if (real.length === 1) return { schema: { ...schema, ...resolve(openapi, real[0]), anyOf: undefined }, nullable };
  return { schema, nullable };
}

function kindOf(schema) {
  if (schema.enum) return "enum";
  if (["string", "integer", "number", "boolean"].includes(schema.type)) return schema.type;
  return "json";
}

export class SchemaForm {
  // ``schema``: an object schema; ``values``: initial values (else the defaults).
  constructor(openapi, schema, { values = null, idPrefix = "f", partial = false } = {}) {
    this.fields = [];
    const object = resolve(openapi, schema);
    const required = new Set(partial ? [] : object.required || []);
    this.el = h("div", { class: "schema-form" });
    for (const [name, raw] of Object.entries(object.properties || {})) {
      if (name === "id") continue;
      const { schema: field, nullable } = unwrap(openapi, raw);
      const kind = kindOf(field);
      const id = `${idPrefix}-${name}`;
      const initial = values && name in values ? values[name] : field.default ?? raw.default;
      const has = values ? name in values : "default" in field || "default" in raw;
      let input;
      if (kind === "boolean") {
        input = h("input", { type: "checkbox", id, name, checked: Boolean(initial) });
      } else if (kind === "enum") {
        input = h("select", { id, name },
          !required.has(name) || nullable ? h("option", { value: "" }, "—") : null,
          field.enum.map((v) => h("option", { value: String(v), selected: has && initial === v }, String(v))));
      } else if (kind === "json") {
        const example = field.type === "array" ? '["…", "…"]' : '{"…": …}';
        input = h("textarea", { id, name, rows: "3", spellcheck: "false", placeholder: `JSON, e.g. ${example}` }, has && initial !== null && initial !== undefined ? JSON.stringify(initial, null, 1) : "");
      } else {
        input = h("input", {
          type: "text", id, name, inputmode: kind === "string" ? null : "decimal",
          value: has && initial !== null && initial !== undefined ? String(initial) : "", autocomplete: "off",
        });
      }
      const error = h("div", { class: "error", id: `${id}-error`, role: "alert" });
      input.setAttribute("aria-describedby", `${id}-error ${id}-hint`);
      const hint = [kind === "json" ? "JSON" : kind, required.has(name) ? "required" : "optional",
        field.minimum !== undefined ? `≥ ${field.minimum}` : null, field.maximum !== undefined ? `≤ ${field.maximum}` : null,
        field.maxLength !== undefined ? `at most ${field.maxLength} characters` : null].filter(Boolean).join(" · ");
      const label = field.title || raw.title || name;
      const wrap = kind === "boolean"
        ? h("div", { class: "field" }, h("div", { class: "check" }, input, h("label", { for: id }, label)), h("div", { class: "hint", id: `${id}-hint` }, hint), error)
        : h("div", { class: "field" }, h("label", { for: id }, label, required.has(name) ? " *" : ""), input, h("div", { class: "hint", id: `${id}-hint` }, hint), error);
      this.el.append(wrap);
      this.fields.push({ name, kind, input, error, required: required.has(name), nullable, initial: has ? initial : undefined });
    }
  }

  // The values to send: empty optional fields are left out (the API fills defaults).
  // What does not parse is sent as typed, so that the API's 422 names the field.
  values({ changedOnly = false } = {}) {
    const out = {};
    for (const f of this.fields) {
      let value;
      if (f.kind === "boolean") value = f.input.checked;
      else {
        const text = f.input.value;
        if (text.trim() === "") {
          if (f.nullable && f.initial !== undefined && f.initial !== null) value = null;
          else continue;
        } else if (f.kind === "integer" || f.kind === "number") {
          const n = Number(text);
          value = text.trim() !== "" && Number.isFinite(n) ? n : text;
        } else if (f.kind === "json") {
          try { value = JSON.parse(text); } catch { value = text; }
        } else value = text;
      }
      if (changedOnly && JSON.stringify(value) === JSON.stringify(f.initial)) continue;
      out[f.name] = value;
    }
    return out;
  }

  clearErrors() {
    for (const f of this.fields) {
      f.error.textContent = "";
      f.input.removeAttribute("aria-invalid");
    }
  }

  // Puts each 422 detail next to its field; returns the ones no field took.
  showErrors(details) {
    const left = [];
    for (const d of details || []) {
      const path = String(d.field || "").split(".").filter((p) => !["body", "parameters", "query"].includes(p));
      const f = this.fields.find((x) => x.name === path[0]);
      if (f) {
        f.error.textContent = d.message;
        f.input.setAttribute("aria-invalid", "true");
      } else left.push(d);
    }
    const first = this.fields.find((f) => f.input.getAttribute("aria-invalid"));
    if (first) first.input.focus();
    return left;
  }
}
