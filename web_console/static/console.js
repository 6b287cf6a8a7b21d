// The console's state and wiring: the token, the open realty, the listing (polled while images are being
// processed), and the actions on it. Every change goes through the public REST API, then the listing is
// read again, so what is shown is what the gateway holds.

import { ApiError, api, token, uuid4 } from "./api.js";
import { enableDragging, label, processingOf, renderGallery } from "./gallery.js";
import { uploadFiles } from "./uploads.js";

const POLL_MS = 2000;
const STALE_MS = 5 * 60 * 1000; // signed URLs last longer than this; re-read before they could lapse
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const $ = (id) => document.getElementById(id);
const state = { realtyId: null, images: [], etag: null, loadedAt: 0, poll: null, busy: false };

let sayTimer = null;

// The status line empties itself after a while; errors stay until the next action.
function say(text) {
  $("status").textContent = text;
  clearTimeout(sayTimer);
  sayTimer = setTimeout(() => { $("status").textContent = ""; }, 8000);
}

function fail(error) {
  const text = error instanceof ApiError ? error.describe() : String(error && error.message || error);
  const box = $("error");
  box.textContent = error && error.status === 401
    ? `${text}. Paste a valid token above (make run prints one).` : text;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function showToken() {
  const value = token.get();
  const claims = value ? token.claims(value) : null;
  const info = $("token-info");
  if (!value) {
    info.textContent = "No token yet.";
  } else if (!claims) {
    info.textContent = "A token is set, but it does not look like a JWT.";
  } else {
    const expires = claims.exp ? new Date(claims.exp * 1000) : null;
    const expired = expires && expires.getTime() < Date.now();
    info.textContent = `Token for agent ${claims.sub} of organisation ${claims.org || claims.sub}` +
      (expires ? `, ${expired ? "expired" : "valid until"} ${expires.toLocaleString()}` : "") + ".";
  }
}

function showGallery() {
  const images = state.images;
  renderGallery($("gallery"), images, armedDelete && armedDelete.id);
  $("gallery-count").textContent = state.realtyId ? `(${images.length})` : "";
  const hint = !state.realtyId ? "Open a realty to see its images."
    : !images.length ? "No images yet: upload some, or copy them from another realty."
      : "Drag an image onto another to move it there, or use its Move buttons.";
  $("gallery-hint").textContent = hint;
  for (const id of ["publish-all", "unpublish-all", "refresh"]) $(id).disabled = !state.realtyId;
}

function schedulePoll() {
  clearTimeout(state.poll);
  state.poll = null;
  if (state.realtyId && state.images.some((image) => processingOf(image) === "PENDING")) {
    state.poll = setTimeout(() => load({ quiet: true }), POLL_MS);
  }
}

// Reads the listing. A realty nobody has written to yet is a 404 INVALID_ID: an empty gallery, not an error.
async function load({ quiet = false } = {}) {
  const realtyId = state.realtyId;
  if (!realtyId || !token.get()) return;
  try {
    const answer = await api.list(realtyId, state.etag);
    if (realtyId !== state.realtyId) return; // another realty was opened meanwhile
    state.loadedAt = Date.now();
    if (answer.status !== 304) {
      state.images = answer.body.realtyImages;
      state.etag = answer.etag;
      showGallery();
    }
  } catch (error) {
    if (realtyId !== state.realtyId) return;
    if (error.status === 404 && error.errorCode === "INVALID_ID") {
      state.images = [];
      state.etag = null;
      showGallery();
    } else if (!quiet) {
      fail(error);
    }
  }
  schedulePoll();
}

function openRealty(realtyId) {
  state.realtyId = realtyId.toLowerCase();
  state.images = [];
  state.etag = null;
  $("realty-id").value = state.realtyId;
  $("uploads").replaceChildren(); // they went to the realty shown before
  history.replaceState(null, "", `#realty=${state.realtyId}`);
  // For the GraphQL explorer opened from here: its default query asks for this realty.
  try { sessionStorage.setItem("realty-console.realty", state.realtyId); } catch (e) { /* optional */ }
  showGallery();
  return load();
}

// Runs one user action: one at a time, errors shown, the listing read again afterwards. `description`
// names the action as it runs ("Publishing image 2"); `work` answers the sentence to show when it is
// done. Only a sentence is shown: the API's answers are objects, never something to print.
async function act(description, work) {
  if (state.busy) {
    say("Still busy with the previous action; try again in a moment.");
    return;
  }
  if (!token.get()) {
    fail(new Error("Paste a bearer token first"));
    $("token").focus();
    return;
  }
  state.busy = true;
  clearError();
  say(`${description}…`);
  try {
    const done = await work();
    say(typeof done === "string" && done ? done : `${description}: done.`);
  } catch (error) {
    say(`${failed(description)}.`);
    fail(error);
  } finally {
    state.busy = false;
    await load({ quiet: true });
  }
}

// "Deleting image 2" -> "Image 2 was not deleted"; any other action -> "Copying failed".
function failed(description) {
  const deleting = /^Deleting (image \d+)$/.exec(description);
  return deleting ? `${capitalised(deleting[1])} was not deleted` : `${description} failed`;
}

const capitalised = (text) => text.charAt(0).toUpperCase() + text.slice(1);
const images = (n) => `${n} image${n === 1 ? "" : "s"}`;
const ordered = (ids) => ids.map((realtyImageId) => ({ realtyImageId }));

function move(id, toIndex) {
  const ids = state.images.map((image) => image.realtyImageId).filter((x) => x !== id);
  ids.splice(toIndex, 0, id);
  return act("Reordering", async () => {
    await api.update(state.realtyId, ordered(ids));
    return `Moved to position ${toIndex + 1}.`;
  });
}

const indexOf = (id) => state.images.findIndex((image) => image.realtyImageId === id);
// The image whose Delete button was pressed once, kept by id rather than by button: the gallery is drawn
// anew every 2 s while images are processed, and an armed button must stay armed across that.
let armedDelete = null;

function disarm() {
  if (!armedDelete) return;
  clearTimeout(armedDelete.timer);
  const button = $("gallery").querySelector(`button[data-action="delete"][data-id="${armedDelete.id}"]`);
  if (button) button.textContent = "Delete";
  armedDelete = null;
}

function onGalleryClick(event) {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const { action, id } = button.dataset;
  const index = indexOf(id);
  if (index < 0) return;
  const realtyId = state.realtyId;
  const which = `image ${index + 1}`;
  if (action === "up") move(id, index - 1);
  else if (action === "down") move(id, index + 1);
  else if (action === "hero") {
    act(`Making ${which} the hero`, async () => {
      await api.update(realtyId, state.images.map((image) => (
        image.realtyImageId === id ? { realtyImageId: id, hero: true } : { realtyImageId: image.realtyImageId })));
      return `${capitalised(which)} is now the hero.`;
    });
  } else if (action === "publish") {
    act(`Publishing ${which}`, async () => {
      await api.publish(realtyId, [id]);
      return `${capitalised(which)} published.`;
    });
  } else if (action === "unpublish") {
    act(`Unpublishing ${which}`, async () => {
      await api.unpublish(realtyId, [id]);
      return `${capitalised(which)} unpublished.`;
    });
  } else if (action === "delete") {
    // Deleting cannot be undone: the first press arms the button, a second press within 5 s deletes.
    if (!armedDelete || armedDelete.id !== id) {
      disarm();
      armedDelete = { id, timer: setTimeout(disarm, 5000) };
      button.textContent = "Confirm delete";
      say(`Press “Confirm delete” again to delete ${which} for good.`);
      return;
    }
    // Disarmed now: a refused delete leaves the gallery as it was (the listing may not even be drawn
    // again), and the button must not go on asking for a confirmation.
    disarm();
    act(`Deleting ${which}`, async () => {
      await api.remove(realtyId, id);
      return `${capitalised(which)} deleted.`;
    });
  }
}

function onGalleryChange(event) {
  const select = event.target.closest("select[data-action='category']");
  if (!select) return;
  const realtyId = state.realtyId;
  const which = `Image ${indexOf(select.dataset.id) + 1}`;
  const category = select.value || null;
  act(`Changing the category of ${which.toLowerCase()}`, async () => {
    await api.update(realtyId, state.images.map((image) => (
      image.realtyImageId === select.dataset.id
        ? { realtyImageId: image.realtyImageId, category }
        : { realtyImageId: image.realtyImageId })));
    return category ? `${which} is now in the category ${label(category)}.` : `${which} has no category now.`;
  });
}

async function upload(files) {
  if (!files.length) return;
  if (!state.realtyId) {
    fail(new Error("Open a realty (or make a new realty id) before uploading"));
    $("realty-id").focus();
    return;
  }
  const realtyId = state.realtyId;
  await act(`Uploading ${files.length} file${files.length > 1 ? "s" : ""}`, async () => {
    const { saved, failures } = await uploadFiles(realtyId, files, $("uploads"));
    if (failures.length) {
      throw new Error(`${saved} of ${files.length} saved. Not saved: ${failures.join("; ")}`);
    }
    return `${images(saved)} uploaded and saved.`;
  });
  $("files").value = "";
}

function wire() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    token.set($("token").value.trim().replace(/^Bearer\s+/i, ""));
    $("token").value = "";
    showToken();
    clearError();
    say("Token set.");
    load();
  });
  $("token-forget").addEventListener("click", () => {
    token.clear();
    showToken();
    say("Token forgotten.");
  });
  $("realty-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearError();
    openRealty($("realty-id").value.trim());
  });
  $("realty-new").addEventListener("click", () => {
    clearError();
    openRealty(uuid4());
    say("New realty id: it comes into being with its first upload or copy.");
  });
  $("files").addEventListener("change", () => upload(Array.from($("files").files)));
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (event) => {
    if (!event.dataTransfer.types.includes("Files")) return;
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    if (!event.dataTransfer.files.length) return;
    event.preventDefault();
    zone.classList.remove("over");
    upload(Array.from(event.dataTransfer.files));
  });
  $("gallery").addEventListener("click", onGalleryClick);
  $("gallery").addEventListener("change", onGalleryChange);
  enableDragging($("gallery"), (id, targetId) => move(id, indexOf(targetId)));
  $("publish-all").addEventListener("click", () => act("Publishing all images", async () => {
    await api.publish(state.realtyId);
    return `All ${images(state.images.length)} published.`;
  }));
  $("unpublish-all").addEventListener("click", () => act("Unpublishing all images", async () => {
    await api.unpublish(state.realtyId);
    return `All ${images(state.images.length)} unpublished.`;
  }));
  $("refresh").addEventListener("click", () => {
    state.etag = null;
    clearError();
    load().then(() => say("Gallery refreshed."));
  });
  $("copy-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const source = $("copy-source").value.trim();
    if (!state.realtyId) {
      fail(new Error("Open the realty to copy into first"));
      return;
    }
    act("Copying", async () => {
      await api.copy(state.realtyId, source);
      return `The images of realty ${source} were copied here.`;
    });
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && Date.now() - state.loadedAt > STALE_MS) load({ quiet: true });
  });
}

wire();
showToken();
showGallery();
// The realty named in the address; a duplicate's link names another one (CONTRACT §11), opened in place.
function openFromHash() {
  const fromHash = /realty=([0-9a-f-]{36})/i.exec(location.hash);
  if (fromHash && UUID.test(fromHash[1]) && fromHash[1].toLowerCase() !== state.realtyId) openRealty(fromHash[1]);
}
window.addEventListener("hashchange", openFromHash);
openFromHash();
