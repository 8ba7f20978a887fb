// Calls to the project's API through the UI server, which adds the key.

export class ApiDown extends Error {
  constructor(service, fix, message) {
    super(message);
    this.service = service;
    this.fix = fix;
  }
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.details = body ? body.details : null;
  }
}

export async function api(path, { method = "GET", body, headers = {}, raw = false } = {}) {
  const init = { method, headers: { "X-Pulpo-UI": "1", Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiDown("ui", "pulpo ui start", "the UI server does not answer");
  }
  if (response.headers.get("x-pulpo-api-down")) {
    const data = await response.json().catch(() => ({}));
    throw new ApiDown("api", "pulpo api start", data.error || "the api service is down");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (raw) return { status: response.status, data };
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// The graph and the OpenAPI schema change only with a rebuild: fetched once a page load.
const cache = new Map();
export function cached(path) {
  if (!cache.has(path)) {
    cache.set(path, api(path).catch((error) => { cache.delete(path); throw error; }));
  }
  return cache.get(path);
}
