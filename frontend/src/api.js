// fetch() for the dashboard's own origin: session cookie, CSRF header, JSON both ways.

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail ?? `the server answered ${status}`);
    this.status = status;
    this.body = body ?? {};
  }
}

export async function request(url, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    signal,
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text.slice(0, 200) };
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export async function fetchText(url, { signal } = {}) {
  const response = await fetch(url, { credentials: "same-origin", signal });
  if (!response.ok) throw new ApiError(response.status, { detail: `the server answered ${response.status}` });
  return response.text();
}
