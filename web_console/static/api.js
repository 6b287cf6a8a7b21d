// The gateway's public REST API as the console uses it: bearer token in a header, a fresh Request-ID per
// request, the contract's error envelope turned into an ApiError, the upload as the seed's form posts it.

const TOKEN_KEY = "realty-console.token";

export class ApiError extends Error {
  constructor(status, body, fallback) {
    super((body && body.message) || fallback);
    this.status = status;
    this.errorCode = body && body.errorCode;
    this.description = body && body.description;
    this.errors = (body && Array.isArray(body.errors)) ? body.errors : [];
  }

  // One sentence for people: the API's message, its description, and what each item failed on.
  describe() {
    let text = this.message;
    if (this.description && this.description !== this.message) text += ` (${this.description})`;
    if (this.errors.length) text += ": " + this.errors.map((e) => `${e.target}: ${e.message}`).join("; ");
    return this.errorCode ? `${text} [${this.errorCode}]` : text;
  }
}

export const token = {
  get() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  },
  set(value) {
    try { sessionStorage.setItem(TOKEN_KEY, value); } catch (e) { /* private mode: kept for this page only */ }
  },
  clear() {
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing stored */ }
  },
  // What the token says about itself, for display only: the gateway is what checks it.
  claims(value) {
    try {
      const payload = atob(value.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"));
      return JSON.parse(new TextDecoder().decode(Uint8Array.from(payload, (c) => c.charCodeAt(0))));
    } catch (e) {
      return null;
    }
  },
};

// crypto.randomUUID exists only in secure contexts; the console may be opened over plain http on a LAN.
export function uuid4() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

async function request(method, path, { body, headers = {}, requestId = true } = {}) {
  const sent = { Authorization: `Bearer ${token.get()}`, ...headers };
  if (requestId) sent["Request-ID"] = uuid4();
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let response;
  try {
    // Relative: the console is served by the gateway it talks to, also under a path prefix.
    response = await fetch(path, {
      method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store", credentials: "omit",
    });
  } catch (e) {
    throw new ApiError(0, null, "The gateway did not answer (is it running?)");
  }
  if (response.status === 304) return { status: 304, etag: response.headers.get("ETag"), body: null };
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
  if (!response.ok) throw new ApiError(response.status, parsed, `${method} ${path}: HTTP ${response.status}`);
  return { status: response.status, etag: response.headers.get("ETag"), body: parsed };
}

const images = (realtyId) => `realty/${encodeURIComponent(realtyId)}/images`;

export const api = {
  // The listing needs no Request-ID. With the ETag of the last answer it may come back 304 (body null).
  list: (realtyId, etag) => request("GET", images(realtyId), {
    requestId: false, headers: etag ? { "If-None-Match": etag } : {},
  }),
  grant: (contentType) => request("GET", `uploadGrants?type=${encodeURIComponent(contentType)}`),
  save: (realtyId, uploadedImages) => request("POST", images(realtyId), { body: { uploadedImages } }),
  update: (realtyId, realtyImages) => request("PUT", images(realtyId), { body: { realtyImages } }),
  publish: (realtyId, ids) => request("POST", `${images(realtyId)}/publish`, { body: { realtyImageIds: ids } }),
  unpublish: (realtyId, ids) => request("POST", `${images(realtyId)}/unpublish`, { body: { realtyImageIds: ids } }),
  remove: (realtyId, imageId) => request("DELETE", `${images(realtyId)}/${encodeURIComponent(imageId)}`),
  copy: (realtyId, sourceRealtyId) => request("POST", `${images(realtyId)}/copy`, { body: { sourceRealtyId } }),
};

// The storage's answer to a failed POST is S3's <Error><Code/><Message/></Error>.
function storageError(xhr) {
  let message = `the storage answered HTTP ${xhr.status}`;
  try {
    const doc = new DOMParser().parseFromString(xhr.responseText || "", "application/xml");
    const text = doc.querySelector("Error > Message");
    const code = doc.querySelector("Error > Code");
    if (text && text.textContent) message = code ? `${text.textContent} [${code.textContent}]` : text.textContent;
  } catch (e) { /* not XML: keep the status */ }
  return new ApiError(xhr.status, null, `Upload refused: ${message}`);
}

// POSTs a grant's fields and then the file, as the seed's HTML form does. XMLHttpRequest rather than
// fetch: only it reports upload progress. onProgress gets a fraction from 0 to 1.
export function uploadToGrant(grant, file, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(grant.fields)) form.append(name, value);
    form.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open(grant.method || "POST", grant.url);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
      } else {
        reject(storageError(xhr));
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, null, "The upload did not reach the storage")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, null, "The upload was cancelled")));
    xhr.send(form);
  });
}
