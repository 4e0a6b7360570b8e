// Calls to the server from the designer page: the CSRF token, one request
// helper, and API errors turned into problems.

export function csrfToken() {
  try {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
  } catch {
    return "";
  }
}

// request calls the server and returns {status, body}; body is parsed JSON
// when the answer is JSON, else text. A network failure throws.
export async function request(method, url, { json, text, contentType, accept = "application/json", headers: extra = {} } = {}) {
  const headers = { ...extra, Accept: accept, "X-CSRF-Token": csrfToken() };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (text !== undefined) {
    headers["Content-Type"] = contentType || "text/plain";
    body = text;
  }
  const res = await fetch(url, { method, headers, body, credentials: "same-origin" });
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json() : await res.text();
  return { status: res.status, body: data };
}

// errorProblems turns an API error answer into [{path, message}].
export function errorProblems(res) {
  const err = res.body && res.body.error;
  if (!err) return [{ path: "", message: `The server answered ${res.status}.` }];
  if (err.details && err.details.length) return err.details;
  return [{ path: "", message: err.message }];
}
