// Uploading files the seed's way: a grant per file, the grant's form posted to the storage with a
// progress bar each, then one save of every uploaded key, in the order the files were chosen.

import { ApiError, api, uploadToGrant } from "./api.js";

const PARALLEL = 3;

function row(list, file) {
  const progress = document.createElement("progress");
  progress.max = 100;
  progress.value = 0;
  progress.setAttribute("aria-label", `Upload of ${file.name}`);
  const status = document.createElement("span");
  status.className = "upload-status";
  status.textContent = "Waiting";
  const name = document.createElement("span");
  name.className = "upload-name";
  name.textContent = file.name;
  const item = document.createElement("li");
  item.className = "upload";
  item.append(name, progress, status);
  list.append(item);
  return {
    item,
    step(text) { status.textContent = text; },
    progress(fraction) {
      progress.value = Math.round(fraction * 100);
      status.textContent = fraction < 1 ? `Uploading ${progress.value} %` : "Uploaded";
    },
    done(text) {
      progress.value = 100;
      item.classList.add("saved");
      status.textContent = text;
    },
    fail(text) {
      item.classList.add("failed");
      status.textContent = text;
      this.failure = `${file.name}: ${text}`;
    },
  };
}

async function postOne(file, view) {
  view.step("Asking for an upload grant");
  const grant = (await api.grant(file.type || "application/octet-stream")).body;
  view.step("Uploading 0 %");
  await uploadToGrant(grant, file, (fraction) => view.progress(fraction));
  return grant.fields.key;
}

// Runs `work` over `items`, at most PARALLEL at a time; results keep the items' order.
async function pooled(items, work) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, worker));
  return results;
}

// Saves the uploaded keys in one request. When the API names failing keys (errors[].target) those files
// are marked with its message and the rest saved again: one bad file does not cost the others.
async function saveAll(realtyId, uploaded) {
  let pending = uploaded;
  while (pending.length) {
    try {
      await api.save(realtyId, pending.map((u) => ({ key: u.key, originalFileName: u.file.name })));
      for (const u of pending) u.view.done("Saved");
      return;
    } catch (error) {
      const targets = new Map((error.errors || []).map((e) => [e.target, e.message]));
      const named = pending.filter((u) => targets.has(u.key));
      if (!named.length) {
        const reason = error instanceof ApiError ? error.describe() : error.message;
        for (const u of pending) u.view.fail(`Not saved: ${reason}`);
        return;
      }
      for (const u of named) u.view.fail(`Not saved: ${targets.get(u.key)}`);
      pending = pending.filter((u) => !targets.has(u.key));
    }
  }
}

// Uploads and saves `files`; answers how many were saved and, for each one that was not, why.
export async function uploadFiles(realtyId, files, list) {
  list.replaceChildren();
  const views = files.map((file) => row(list, file));
  const keys = await pooled(files, async (file, i) => {
    try {
      return await postOne(file, views[i]);
    } catch (error) {
      views[i].fail(error instanceof ApiError ? error.describe() : error.message);
      return null;
    }
  });
  const uploaded = files.map((file, i) => ({ file, key: keys[i], view: views[i] })).filter((u) => u.key);
  for (const u of uploaded) u.view.step("Saving");
  if (uploaded.length) await saveAll(realtyId, uploaded);
  return {
    saved: views.filter((v) => !v.failure).length,
    failures: views.map((v) => v.failure).filter(Boolean),
  };
}
