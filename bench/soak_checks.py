"""The end of the soak: let the gateway recover, then check every invariant against what it left behind.

Orphans, precisely. After a final `gc` (run until it finds nothing more to purge), an object in the
bucket is accounted for when
  1. an image row names it, as its original or as a rendition (in use); or
  2. it is an upload (`uploads/...`) whose grant was never saved: its holder may still save it while the
     grant is valid, and gc deletes it once the upload retention has passed; or
  3. a blob row reserves it with no image counted (refs 0), reserved less than the reservation grace
     ago: a write that failed on a backend timeout leaves it to gc, which deletes it after the grace.
Anything else is an orphan: no row would ever lead gc to it, so it stays for good. A tombstone still
there after the final gc is a deletion gc could not finish, reported as well.
"""
from __future__ import annotations

import hashlib
import io
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

import requests
from PIL import Image

from adapters.dramatiq_jobs import SWEEP_INTERVAL_SECONDS
from bench.soak_model import Item, RealtyModel
from bench.soak_snapshot import ImageRow, Snapshot, pending
from bench.soak_stack import Stack
from bench.soak_tally import Tally
from core.processing import RENDITIONS
from core.dependencies import Limits

RENDER_SLACK = 30.0
"""Seconds, beyond the sweep's own delay, to render what the sweep queued again."""
DRAIN_LIMIT = 600.0
"""However busy the machine, a backlog left by the load is rendered within this."""
RENDITION_NAMES = {spec.name for spec in RENDITIONS}
KILL_WINDOW = (60.0, 10.0)
"""A request sent up to 60 s (the client's read timeout) before a gunicorn worker was killed, or 10 s
after (on a kept-alive connection to it), may be cut by that kill."""


def stall_bound(stale_after: float) -> float:
    """How long the PENDING count may stay the same once every backend answers again: a job lost on the
    way (a dead worker, a lost message) is queued again by the sweep once it is older than the stale
    limit, and the sweep runs every min(30 s, stale/2); then it takes a moment to render."""
    return stale_after + min(SWEEP_INTERVAL_SECONDS, stale_after / 2) + RENDER_SLACK


def recover(stack: Stack, tally: Tally) -> tuple[float | None, int]:
    """Wait until no image is PENDING: (the seconds it took, or None; the PENDING images at the start).

    The load leaves a backlog a 2-core machine renders in its own time, so waiting is bounded by progress:
    an image still PENDING once the count has stood still for `stall_bound` (nothing rendered, nothing
    queued again), or after DRAIN_LIMIT, is a violation."""
    bound, started = stall_bound(stack.layout.stale_after), time.monotonic()
    left = pending(stack.direct_database_url)
    backlog, last_count, last_change = len(left), len(left), started
    while left:
        now = time.monotonic()
        if len(left) < last_count:
            last_count, last_change = len(left), now
        if now - last_change > bound or now - started > DRAIN_LIMIT:
            for image in left:
                tally.violation("pending", f"image {image.uuid} of {image.realty} still PENDING "
                                           f"{now - started:.0f} s after recovery, none rendered for "
                                           f"{now - last_change:.0f} s ({image.attempts} attempts, last queued "
                                           f"{image.queued_at:%H:%M:%S})")
            return None, backlog
        time.sleep(1.0)
        left = pending(stack.direct_database_url)
    return time.monotonic() - started, backlog


def final_gc(stack: Stack, tally: Tally, runs: int = 5) -> None:
    """gc until a run has nothing more to purge (each run takes a batch of at most 500 of each kind)."""
    for _ in range(runs):
        counts = stack.gc()
        if counts is None:
            tally.note("final gc runs that failed")
        elif not counts["purged_blobs"] and not counts["abandoned_blobs"] and not counts["expired_uploads"]:
            return
        else:
            tally.note("final gc runs that purged something")


def check_snapshot(snap: Snapshot, tally: Tally) -> None:
    _structure(snap, tally)
    _ledger(snap, tally)
    _orphans(snap, tally)
    for image in snap.images:
        if image.processing == "FAILED":
            tally.violation("failed", f"image {image.uuid} of {image.realty} FAILED: {image.error}")


def _structure(snap: Snapshot, tally: Tally) -> None:
    for realty, images in snap.by_realty().items():
        positions = sorted(i.position for i in images)
        if positions != list(range(len(images))):
            tally.violation("positions", f"realty {realty}: positions {positions[:12]}... of {len(images)} images")
        heroes = [i.uuid for i in images if i.hero]
        if len(heroes) > 1:
            tally.violation("hero", f"realty {realty}: {len(heroes)} heroes")
        if len(images) > 200:
            tally.violation("cap", f"realty {realty}: {len(images)} images")


def _ledger(snap: Snapshot, tally: Tally) -> None:
    """A blob row's count is what decides when its file is deleted: it must equal the image rows naming it."""
    uses = snap.uses()
    for key, used in uses.items():
        refs = snap.blobs.get(key, (None, None))[0]
        if refs != used:
            tally.violation("ledger", f"{key}: named by {used} images, blob row counts {refs}")
    for key, (refs, _) in snap.blobs.items():
        if refs > 0 and key not in uses:
            tally.violation("ledger", f"{key}: blob row counts {refs} uses, no image names it")


def _orphans(snap: Snapshot, tally: Tally) -> None:
    uses, grace = snap.uses(), Limits().reservation_grace
    kinds: Counter[str] = Counter()
    for key in snap.objects:
        blob = snap.blobs.get(key)
        if key in uses:
            kinds["in use"] += 1
        elif key.startswith("uploads/") and key in snap.grants and snap.grants[key] is None:
            kinds["uploads never saved (grant unused)"] += 1
        elif blob is not None and blob[0] <= 0 and blob[1] > snap.taken_at - grace:
            kinds["reserved by a write that failed (gc takes them after the grace)"] += 1
        else:
            tally.violation("orphans", f"{key}: {_why_orphan(key, snap)}")
    for what, n in kinds.items():
        tally.note(f"bucket objects: {what}", n)
    for key in sorted(snap.tombstones):
        tally.violation("orphans", f"tombstone of {key} left after the final gc "
                                   f"({'object still there' if key in snap.objects else 'object gone'})")
    for key in uses:
        if key not in snap.objects:
            tally.violation("files", f"{key} is named by an image but missing from the bucket")


def _why_orphan(key: str, snap: Snapshot) -> str:
    if key.startswith("uploads/"):
        return "an upload whose grant was saved" if key in snap.grants else "an upload with no grant row"
    if key in snap.blobs:
        return f"blob row with refs {snap.blobs[key][0]} but no image names it"
    return "no image, grant or blob row names it"


def check_accounts(snap: Snapshot, tally: Tally) -> None:
    """Every image was in some acknowledged answer (none made twice behind a retry), and every image an
    answer made is still there unless an acknowledged delete removed it."""
    present = {image.uuid: image for image in snap.images}
    made_md5: dict[str, list[str]] = {}
    for image_id, created in tally.created.items():
        if image_id in present:
            made_md5.setdefault(present[image_id].md5, []).append(f"{created.via} {created.key}")
    for image in snap.images:
        if image.uuid not in tally.created and image.md5 not in tally.unresolved_md5s:
            twins = made_md5.get(image.md5, [])
            tally.violation("once", f"image {image.uuid} in {image.realty} was in no answer; same bytes as "
                                    f"{twins or 'nothing acknowledged'}")
    for image_id, created in tally.created.items():
        if image_id not in present and image_id not in tally.deleted and image_id not in tally.maybe_deleted:
            tally.violation("kept", f"image {image_id} made by {created.via} {created.key} in {created.realty} "
                                    "is gone, never deleted")


def check_models(snap: Snapshot, tally: Tally, models: Iterable[RealtyModel]) -> None:
    """Each client's own realties hold exactly what its acknowledged writes say."""
    by_realty = snap.by_realty()
    for model in models:
        rows = sorted(by_realty.get(model.uuid, []), key=lambda i: i.position)
        difference = model.differences([Item(i.uuid, i.hero, i.published) for i in rows])
        if difference:
            tally.violation("agree", f"own realty {model.uuid} at the end: {difference}")


def check_requests(tally: Tally) -> None:
    for (kind, label), n in sorted(tally.requests.items()):
        status = int(label.split()[0]) if label[0].isdigit() else None
        if status is not None and 500 <= status < 600 and status != 503 or "INTERNAL_SERVER_ERROR" in label:
            tally.violation("5xx", f"{kind}: {label}", n)
    for sent_at, kind, error in tally.dropped:
        cut = error != "ReadTimeout" and any(k - KILL_WINDOW[0] <= sent_at <= k + KILL_WINDOW[1]
                                             for k in tally.gunicorn_kills)
        if cut:
            tally.note("requests cut by the gunicorn worker kill")
        else:
            tally.violation("answered", f"{kind}: {error}")


def check_files(snap: Snapshot, tally: Tally, base: str, tokens: dict[str, str]) -> int:
    """List every realty as its org and download every file the listing points at; returns how many items."""
    by_realty, rows = snap.by_realty(), {image.uuid: image for image in snap.images}
    items: list[dict] = []
    for realty, org in snap.realties.items():
        reply = requests.get(f"{base}/realty/{realty}/images", headers={"Authorization": f"Bearer {tokens[org]}"},
                             timeout=120)
        tally.request("final REST list", str(reply.status_code))
        if reply.status_code != 200:
            tally.violation("files", f"realty {realty}: listing answered {reply.status_code}")
            continue
        listed = reply.json()["realtyImages"]
        in_order = sorted(by_realty[realty], key=lambda i: i.position)
        if [i["realtyImageId"] for i in listed] != [i.uuid for i in in_order]:
            tally.violation("files", f"realty {realty}: the listing is not the database's images in order")
        items += listed
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda item: _download(item, rows.get(item["realtyImageId"]), tally), items))
    return len(items)


_local = threading.local()


def _session() -> requests.Session:
    if not hasattr(_local, "http"):
        _local.http = requests.Session()
    return _local.http


def _download(item: dict, row: ImageRow | None, tally: Tally) -> None:
    http, name = _session(), item["realtyImageId"]
    original = http.get(item["url"], timeout=120)
    tally.request("final download, original", str(original.status_code))
    if original.status_code != 200:
        tally.violation("files", f"image {name}: original answered {original.status_code}")
    elif (len(original.content), hashlib.md5(original.content).hexdigest()) != (item["fileSize"], item["imageHash"]) \
            or row is None or (row.file_size, row.md5) != (item["fileSize"], item["imageHash"]):
        tally.violation("files", f"image {name}: original's size or md5 differs from its item or row")
    renditions = item["renditions"]
    if item["processing"] == "READY" and set(renditions) != RENDITION_NAMES:
        tally.violation("files", f"image {name}: READY with renditions {sorted(renditions)}")
    for rendition_name, rendition in renditions.items():
        got = http.get(rendition["url"], timeout=120)
        tally.request("final download, rendition", str(got.status_code))
        if got.status_code != 200:
            tally.violation("files", f"image {name}: rendition {rendition_name} answered {got.status_code}")
            continue
        with Image.open(io.BytesIO(got.content)) as img:
            if img.size != (rendition["width"], rendition["height"]):
                tally.violation("files", f"image {name}: rendition {rendition_name} is {img.size}, item says "
                                         f"{rendition['width']}x{rendition['height']}")
