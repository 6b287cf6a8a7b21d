// The gallery: one card per image, in the realty's order. Rendering only; the actions it offers are
// handed to `actions` (see console.js), which calls the API and renders again.

export const CATEGORIES = [
  "BUILDING_EXTERIOR", "COMMON_INDOOR_SPACES", "COMMON_OUTDOOR_SPACES", "GENERAL", "ROOM", "SPECIFIC", "MAP",
];

// Before the processing state existed every image was rendered on save: no field means ready.
export const processingOf = (image) => image.processing || "READY";

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "className") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// An enum value as people read it: BUILDING_EXTERIOR -> "building exterior".
export const label = (text) => text.toLowerCase().replace(/_/g, " ");

function bytes(n) {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  if (n >= 1024) return `${Math.round(n / 1024)} kB`;
  return `${n} B`;
}

function preview(image, name) {
  const state = processingOf(image);
  const thumbnail = image.renditions && image.renditions.thumbnail;
  if (thumbnail) {
    return el("img", {
      src: thumbnail.url, alt: name, width: thumbnail.width, height: thumbnail.height,
      loading: "lazy", decoding: "async", draggable: "false",
    });
  }
  const text = state === "FAILED" ? "Could not be processed"
    : state === "PENDING" ? "Processing…" : "No preview";
  return el("div", { className: `placeholder ${state.toLowerCase()}`, role: "img", "aria-label": `${name}: ${text}` },
    text);
}

// The average colour a blurhash starts with (its DC term, characters 2-5 in base 83): painted behind an image
// while it loads, at the cost of a few lines rather than a decoder.
const BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";
export function blurhashColour(hash) {
  if (!hash || hash.length < 6) return null;
  let value = 0;
  for (const c of hash.slice(2, 6)) value = value * 83 + BASE83.indexOf(c);
  return `rgb(${value >> 16}, ${(value >> 8) & 255}, ${value & 255})`;
}

const ISSUES = { BLURRY: "Blurry", DARK: "Too dark", OVEREXPOSED: "Overexposed", LOW_RESOLUTION: "Low resolution" };

// What the listing channels and the quality checks say of the photo (CONTRACT §11).
function checks(image) {
  const issues = (image.quality && image.quality.issues) || [];
  const channels = image.channels || [];
  if (!issues.length && !channels.length) return null;
  const list = el("ul", { className: "badges checks", "aria-label": "Photo checks" });
  for (const issue of issues) list.append(el("li", { className: "badge issue" }, ISSUES[issue] || label(issue)));
  for (const channel of channels) {
    const why = channel.reasons.join("; ");
    list.append(el("li", {
      className: `badge channel ${channel.ready ? "ready" : "refused"}`, title: why || `${channel.channel} takes it`,
      "aria-label": channel.ready ? `${channel.channel}: ready` : `${channel.channel}: not ready, ${why}`,
    }, `${channel.ready ? "✓" : "✗"} ${channel.channel}`));
  }
  return list;
}

// The org's other images of the same photo, each linking to the listing it belongs to.
function duplicates(image) {
  const found = image.duplicates || [];
  if (!found.length) return null;
  return el("div", { className: "duplicates" },
    el("p", {}, found.length === 1 ? "Same photo as:" : `Same photo as ${found.length} others:`),
    el("ul", {}, ...found.map((d) => el("li", {},
      el("a", { href: `#realty=${d.realtyId}`, dataset: { realty: d.realtyId } },
        `image ${d.realtyImageId.slice(0, 8)} in realty ${d.realtyId.slice(0, 8)}`),
      d.identical ? " (the same file)" : ` (${d.distance} bits apart)`))));
}

function badges(image) {
  const state = processingOf(image);
  const list = el("ul", { className: "badges", "aria-label": "State" });
  if (image.hero) list.append(el("li", { className: "badge hero" }, "Hero"));
  list.append(el("li", { className: `badge ${image.published ? "published" : "draft"}` },
    image.published ? "Published" : "Not published"));
  list.append(el("li", { className: `badge ${state.toLowerCase()}` },
    state === "PENDING" ? "Processing" : state === "FAILED" ? "Processing failed" : "Ready"));
  if (image.category) list.append(el("li", { className: "badge category" }, label(image.category)));
  return list;
}

function actionButton(action, id, text, accessibleName, extra = {}) {
  return el("button", { type: "button", dataset: { action, id }, "aria-label": accessibleName, ...extra }, text);
}

function frame(image, name) {
  const node = el("div", { className: "frame" }, preview(image, name));
  // Through the CSSOM: the console's CSP (style-src 'self') refuses style attributes.
  const colour = blurhashColour(image.blurhash);
  if (colour) node.style.backgroundColor = colour;
  return node;
}

function card(image, index, count, armed) {
  const id = image.realtyImageId;
  const position = index + 1;
  const name = image.description || image.originalFileName || `Image ${position}`;
  const who = `image ${position} (${image.originalFileName || name})`;
  const facts = [image.originalFileName, image.width && `${image.width}×${image.height}`,
    image.fileSize && bytes(image.fileSize)].filter(Boolean).join(" · ");

  const select = el("select", { id: `category-${id}`, dataset: { action: "category", id } },
    el("option", { value: "" }, "no category"),
    ...CATEGORIES.map((c) => el("option", { value: c, selected: image.category === c }, label(c))));

  const failure = processingOf(image) === "FAILED" && image.processingError
    ? el("p", { className: "failure" }, image.processingError) : null;

  return el("li", { className: "card", draggable: "true", dataset: { id }, "aria-label": `${position}. ${name}` },
    el("p", { className: "position" }, `#${position}`),
    frame(image, name),
    badges(image),
    checks(image),
    duplicates(image),
    el("p", { className: "facts" }, image.url ? el("a", { href: image.url, target: "_blank", rel: "noopener" },
      facts || "original") : facts),
    image.description && image.description !== name ? el("p", { className: "description" }, image.description) : null,
    failure,
    el("div", { className: "row compact" },
      el("label", { for: `category-${id}`, className: "visually-hidden" }, `Category of ${who}`), select),
    el("div", { className: "actions" },
      actionButton("up", id, "↑ Move up", `Move ${who} up`, { disabled: index === 0 }),
      actionButton("down", id, "↓ Move down", `Move ${who} down`, { disabled: index === count - 1 }),
      actionButton("hero", id, "Make hero", `Make ${who} the hero`, { disabled: image.hero }),
      image.published
        ? actionButton("unpublish", id, "Unpublish", `Unpublish ${who}`)
        : actionButton("publish", id, "Publish", `Publish ${who}`),
      actionButton("delete", id, armed ? "Confirm delete" : "Delete", `Delete ${who}`, { className: "danger" })));
}

// Rebuilds the list, keeping keyboard focus on the same control of the same image (it may have moved).
// `armedId`: the image whose Delete button waits for its confirming second press.
export function renderGallery(list, images, armedId = null) {
  const focused = document.activeElement && list.contains(document.activeElement) ? document.activeElement : null;
  const keep = focused && focused.dataset.id ? { id: focused.dataset.id, action: focused.dataset.action } : null;
  list.replaceChildren(...images.map((image, i) => card(image, i, images.length, image.realtyImageId === armedId)));
  if (keep) {
    const again = list.querySelector(`[data-id="${keep.id}"][data-action="${keep.action}"]`);
    const fallback = list.querySelector(`[data-id="${keep.id}"] button:not([disabled])`);
    (again && !again.disabled ? again : fallback || list).focus();
  }
}

// Drag and drop between cards. onMove(draggedId, targetId) is called on a drop: the dragged image takes
// the target's place (after it when moving down the list, before it when moving up).
export function enableDragging(list, onMove) {
  let dragged = null;
  const cardOf = (node) => node && node.closest && node.closest("li.card");
  list.addEventListener("dragstart", (event) => {
    const source = cardOf(event.target);
    if (!source) return;
    dragged = source.dataset.id;
    source.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged);
  });
  list.addEventListener("dragover", (event) => {
    const target = cardOf(event.target);
    if (!dragged || !target) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    for (const c of list.querySelectorAll(".drop-target")) if (c !== target) c.classList.remove("drop-target");
    if (target.dataset.id !== dragged) target.classList.add("drop-target");
  });
  list.addEventListener("dragleave", (event) => {
    const target = cardOf(event.target);
    if (target && !target.contains(event.relatedTarget)) target.classList.remove("drop-target");
  });
  list.addEventListener("drop", (event) => {
    const target = cardOf(event.target);
    if (!dragged || !target) return;
    event.preventDefault();
    const id = dragged;
    dragged = null;
    target.classList.remove("drop-target");
    if (target.dataset.id !== id) onMove(id, target.dataset.id);
  });
  list.addEventListener("dragend", () => {
    dragged = null;
    for (const c of list.querySelectorAll(".dragging, .drop-target")) c.classList.remove("dragging", "drop-target");
  });
}
