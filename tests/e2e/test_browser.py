"""In a real browser, offline: /docs, the GraphQL explorer and the web console (CONTRACT §9).

Debian's Chromium (/usr/bin/chromium), driven by Playwright, against the gateway on a real port with the
embedded defaults (local disk storage in a tmp dir). Every request for anything but this machine is
aborted and recorded: the pages must work without them, and none may even be tried. Skipped, saying
why, where Chromium or Playwright is missing (`make test` says so too; `.ci/run` installs Chromium).

Set BROWSER_SCREENSHOTS=/some/dir to keep a screenshot of each page.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import os
import threading
import uuid
from contextlib import contextmanager
from html import escape
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from tests.images import encoded, make_jpeg, make_png, scene
from tests.servers import SHUTDOWN_POLL

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # Debian's; CHROMIUM=... for another build
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
TIMEOUT_MS = 60_000
"""How long an expectation waits for the page: it passes as soon as the page is right, and a busy machine
(a load of 8 on 2 cores) makes Chromium many times slower than an idle one."""

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the [test] extra installs it; a bare environment may not have it
    sync_playwright = None

if sync_playwright is not None:
    expect.set_options(timeout=TIMEOUT_MS)  # expect() has a default of its own (5 s), apart from the page's

pytestmark = [
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                       reason=f"browser tests need Chromium at {CHROMIUM} (apt-get install -y chromium)"),
    pytest.mark.skipif(sync_playwright is None, reason="browser tests need playwright (pip install -e '.[test]')"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def serving(app) -> Iterator[str]:
    """`app` on a free port of 127.0.0.1, in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def gateway(settings) -> Iterator[str]:
    from wsgi import create_app

    app = create_app(settings)
    try:
        with serving(app) as base:
            yield base
    finally:
        app.extensions["realty"].close()


class Offline:
    """A browser page whose every request off this machine is aborted and remembered."""

    def __init__(self, browser: "Browser") -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.attempted_off_machine: list[str] = []
        self.script_errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.on("pageerror", lambda error: self.script_errors.append(str(error)))
        self.page.on("console", self._console)

    def _route(self, route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            self.attempted_off_machine.append(url)
            route.abort()

    def _console(self, message) -> None:
        # Something the page's Content-Security-Policy blocked is a part of the page that did not work.
        if message.type == "error" and "Content Security Policy" in message.text:
            self.script_errors.append(message.text)

    def screenshot(self, name: str) -> None:
        directory = os.environ.get("BROWSER_SCREENSHOTS")
        if directory:
            Path(directory).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)

    def assert_self_contained(self) -> None:
        assert self.attempted_off_machine == [], "requests that would leave this machine"
        assert self.script_errors == [], "uncaught script errors or CSP violations"


@pytest.fixture
def offline(browser) -> Iterator[Offline]:
    session = Offline(browser)
    try:
        yield session
    finally:
        session.context.close()


def use_token_in_console(page: "Page", base: str, token: str) -> None:
    page.goto(base + "/")
    page.get_by_label("Bearer token").fill(token)
    page.get_by_role("button", name="Use token").click()
    expect(page.locator("#token-info")).to_contain_text("organisation org-a")


def test_docs_render_offline(gateway, offline):
    page = offline.page
    page.goto(gateway + "/docs")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Realty Image API")
    paths = page.locator(".opblock-summary-path")
    expect(paths.first).to_be_visible()
    assert {"/uploadGrants", "/realty/{realtyId}/images/copy"} <= set(paths.all_text_contents())
    offline.screenshot("docs")
    offline.assert_self_contained()


def save_over_rest(base: str, token: str, realty: str, name: str, data: bytes) -> None:
    """The seed's flow without a browser: grant, the grant's form POSTed with the file, save."""
    headers = {"Authorization": f"Bearer {token}"}
    grant = requests.get(f"{base}/uploadGrants?type=image/jpeg", timeout=30,
                         headers={**headers, "Request-ID": str(uuid.uuid4())}).json()
    posted = requests.post(grant["url"], data=grant["fields"], files={"file": (name, data, "image/jpeg")}, timeout=30)
    assert posted.status_code == 204, posted.text
    saved = requests.post(f"{base}/realty/{realty}/images", timeout=30, json={"uploadedImages": [
        {"key": grant["fields"]["key"], "originalFileName": name}]}, headers={**headers, "Request-ID": str(uuid.uuid4())})
    assert saved.status_code == 201, saved.text


def test_graphql_explorer_renders_offline_and_uses_the_consoles_token_and_realty(gateway, offline, make_token):
    page, token, realty = offline.page, make_token(), str(uuid.uuid4())
    save_over_rest(gateway, token, realty, "front.jpg", make_jpeg(320, 240))
    use_token_in_console(page, gateway, token)
    page.get_by_label("Realty id (UUID)").fill(realty)
    page.get_by_role("button", name="Open").click()
    expect(page.locator("#gallery li.card")).to_have_count(1)
    page.get_by_role("link", name="GraphQL explorer").click()

    expect(page.locator(".graphiql-container")).to_be_visible()
    expect(page.locator(".graphiql-query-editor")).to_contain_text("Realty Image Gateway - GraphQL")
    # The schema came through /graphql with the token: the explorer plugin lists the root fields.
    page.get_by_role("button", name="Show GraphiQL Explorer").click()
    expect(page.locator(".graphiql-explorer-root")).to_contain_text("property")
    # The default query runs, authenticated, for the realty the console had open.
    page.locator(".graphiql-execute-button").click()
    response = page.locator(".graphiql-response")
    expect(response).to_contain_text(realty)
    expect(response).to_contain_text("PROPERTY_IMAGE")
    offline.screenshot("graphql")
    offline.assert_self_contained()


def test_graphql_explorer_without_a_token_says_how_to_get_one_and_where_to_put_it(gateway, offline, make_token):
    page = offline.page
    page.goto(gateway + "/graphql")

    expect(page.locator(".graphiql-container")).to_be_visible()
    expect(page.locator(".graphiql-query-editor")).to_contain_text("Headers tab")
    # The gateway refused the schema's request: the page says how to get a token and where it goes.
    hint = page.locator("#token-hint")
    expect(hint).to_be_visible()
    expect(hint).to_contain_text("A bearer token is required")
    expect(hint).to_contain_text('{"Authorization": "Bearer <token>"}')
    expect(hint).to_contain_text(".venv/bin/flask --app wsgi token --org ORG --sub SUB")
    page.locator(".graphiql-execute-button").click()
    response = page.locator(".graphiql-response")
    expect(response).to_contain_text("UNAUTHENTICATED")
    expect(response).to_contain_text("A bearer token is required")  # not "malformed": the placeholder is no token
    offline.screenshot("graphql-without-a-token")

    # With a token in the Headers tab, the hint goes once the gateway accepts it.
    page.get_by_role("button", name="Headers").click()
    headers = page.locator(".graphiql-editor-tool .graphiql-editor").last
    headers.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(json.dumps({"Authorization": f"Bearer {make_token()}"}))
    page.locator(".graphiql-execute-button").click()
    expect(response).to_contain_text('"property": null')
    expect(hint).to_be_hidden()
    offline.assert_self_contained()


def listing(base: str, token: str, realty: str) -> list[dict]:
    response = requests.get(f"{base}/realty/{realty}/images", headers={"Authorization": f"Bearer {token}"},
                            timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["realtyImages"]


def names(base: str, token: str, realty: str) -> list[str]:
    return [image["originalFileName"] for image in listing(base, token, realty)]


def test_console_uploads_shows_reorders_publishes_and_refuses_to_delete_a_published_image(
        gateway, offline, make_token):
    page, token = offline.page, make_token()
    use_token_in_console(page, gateway, token)
    page.get_by_role("button", name="New realty id").click()
    realty = page.get_by_label("Realty id (UUID)").input_value()
    assert uuid.UUID(realty).version == 4

    # Two files, the seed's REST flow each: grant, form POST to the storage (with progress), save.
    page.get_by_label("Images to upload").set_input_files([
        {"name": "front.jpg", "mimeType": "image/jpeg", "buffer": make_jpeg(1200, 800)},
        {"name": "garden.png", "mimeType": "image/png", "buffer": make_png(600, 900)},
    ])
    uploads = page.locator("#uploads li")
    expect(uploads).to_have_count(2)
    for row in (uploads.nth(0), uploads.nth(1)):
        expect(row.locator(".upload-status")).to_have_text("Saved")
        expect(row.locator("progress")).to_have_attribute("value", "100")
    expect(page.get_by_role("status")).to_contain_text("2 images uploaded and saved")

    cards = page.locator("#gallery li.card")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_contain_text("front.jpg")
    expect(cards.nth(1)).to_contain_text("garden.png")
    assert names(gateway, token, realty) == ["front.jpg", "garden.png"]
    # The thumbnails are the renditions, served by the gateway, and really decoded by the browser.
    thumbnails = cards.locator("img")
    expect(thumbnails).to_have_count(2)
    # A function, not an expression: Playwright evaluates an expression again with eval() on every later
    # poll, which the console's CSP (no 'unsafe-eval') refuses whenever the first check comes too early.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#gallery img')].every(i => i.complete && i.naturalWidth)")
    sources = thumbnails.evaluate_all("images => images.map(i => i.src)")
    assert [urlsplit(s).hostname for s in sources] == ["127.0.0.1", "127.0.0.1"]
    assert all("/thumbnail" in s for s in sources)
    expect(cards.nth(0)).to_contain_text("Ready")
    offline.screenshot("console")

    # Drag the second image onto the first: it takes the first place.
    cards.nth(1).drag_to(cards.nth(0))
    expect(cards.nth(0)).to_contain_text("garden.png")
    assert names(gateway, token, realty) == ["garden.png", "front.jpg"]

    page.get_by_role("button", name="Publish image 1 (garden.png)").click()
    expect(cards.nth(0).locator(".badge.published")).to_have_text("Published")
    assert [image["published"] for image in listing(gateway, token, realty)] == [True, False]

    # Deleting takes two presses; the API refuses a published image, and the console shows its message.
    delete = page.get_by_role("button", name="Delete image 1 (garden.png)")
    delete.click()
    expect(delete).to_have_text("Confirm delete")
    delete.click()
    published_id = listing(gateway, token, realty)[0]["realtyImageId"]
    refusal = requests.delete(f"{gateway}/realty/{realty}/images/{published_id}", timeout=30, headers={
        "Authorization": f"Bearer {token}", "Request-ID": str(uuid.uuid4())})
    assert refusal.status_code == 400 and refusal.json()["errorCode"] == "INVALID_STATUS"
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(refusal.json()["message"])
    expect(alert).to_contain_text("INVALID_STATUS")
    assert names(gateway, token, realty) == ["garden.png", "front.jpg"]
    offline.screenshot("console-refused-delete")

    # The keyboard alternative to dragging.
    page.get_by_role("button", name="Move image 2 (front.jpg) up").focus()
    page.keyboard.press("Enter")
    expect(cards.nth(0)).to_contain_text("front.jpg")
    assert names(gateway, token, realty) == ["front.jpg", "garden.png"]
    offline.assert_self_contained()


# Every sentence the status line (role=status) shows, in order: the console empties it after a while,
# so what a person read is recorded as it appears rather than looked for afterwards.
RECORD_STATUS = """() => {
  const status = document.getElementById("status");
  window.statusSaid = [];
  new MutationObserver(() => { if (status.textContent) window.statusSaid.push(status.textContent); })
    .observe(status, {childList: true, characterData: true, subtree: true});
}"""

# WCAG 2 contrast of an element's text against the first opaque background behind it.
CONTRAST = """(element) => {
  const rgba = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const linear = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  };
  let node = element, background = [255, 255, 255];
  while (node && node.nodeType === 1) {
    const colour = rgba(getComputedStyle(node).backgroundColor);
    if (colour.length === 3 || (colour.length === 4 && colour[3] === 1)) { background = colour; break; }
    node = node.parentElement;
  }
  const [a, b] = [luminance(rgba(getComputedStyle(element).color)), luminance(background)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


class Console:
    """The console as a person uses it: by the labels they read, with what the status line said."""

    def __init__(self, page: "Page") -> None:
        self.page = page
        self.cards = page.locator("#gallery li.card")
        self.heard = 0  # sentences of the status line already matched by says()

    def record(self) -> None:
        self.page.evaluate(RECORD_STATUS)

    def said(self) -> list[str]:
        return self.page.evaluate("() => window.statusSaid")

    def says(self, sentence: str) -> None:
        """The status line showed `sentence` since the last sentence matched (and maybe others meanwhile)."""
        try:
            self.heard = self.page.wait_for_function(
                "([sentence, from]) => window.statusSaid.indexOf(sentence, from) + 1",
                arg=[sentence, self.heard]).json_value()
        except PlaywrightTimeout:
            pytest.fail(f"the status line never said {sentence!r}; it said {self.said()}")

    def press(self, name: str) -> None:
        self.page.get_by_role("button", name=name, exact=True).click()

    def badges(self, index: int) -> list[str]:
        return self.cards.nth(index).locator(".badge").all_text_contents()


def test_every_console_action_says_what_it_did_in_a_sentence(gateway, offline, make_token):
    page, token = offline.page, make_token()
    source = str(uuid.uuid4())
    save_over_rest(gateway, token, source, "porch.jpg", make_jpeg(300, 200))
    console = Console(page)
    page.goto(gateway + "/")
    console.record()
    page.get_by_label("Bearer token").fill(token)
    console.press("Use token")
    console.says("Token set.")
    console.press("New realty id")
    console.says("New realty id: it comes into being with its first upload or copy.")
    realty = page.get_by_label("Realty id (UUID)").input_value()
    page.get_by_label("Images to upload").set_input_files([
        {"name": f"{name}.jpg", "mimeType": "image/jpeg", "buffer": make_jpeg(320 + n, 240)}
        for n, name in enumerate(("front", "garden", "attic"))])
    console.says("3 images uploaded and saved.")
    expect(console.cards).to_have_count(3)

    console.press("Publish image 1 (front.jpg)")
    console.says("Image 1 published.")
    expect(console.cards.nth(0).locator(".badge.published")).to_have_text("Published")
    console.press("Unpublish image 1 (front.jpg)")
    console.says("Image 1 unpublished.")
    expect(console.cards.nth(0).locator(".badge.draft")).to_have_text("Not published")
    console.press("Publish all")
    console.says("All 3 images published.")
    expect(page.locator("#gallery .badge.published")).to_have_count(3)
    console.press("Unpublish all")
    console.says("All 3 images unpublished.")
    expect(page.locator("#gallery .badge.published")).to_have_count(0)
    console.press("Make image 2 (garden.jpg) the hero")
    console.says("Image 2 is now the hero.")
    expect(console.cards.nth(1).locator(".badge.hero")).to_have_text("Hero")
    page.get_by_label("Category of image 1 (front.jpg)").select_option("BUILDING_EXTERIOR")
    console.says("Image 1 is now in the category building exterior.")
    expect(console.cards.nth(0).locator(".badge.category")).to_have_text("building exterior")
    page.get_by_label("Category of image 1 (front.jpg)").select_option("")
    console.says("Image 1 has no category now.")
    console.press("Move image 1 (front.jpg) down")
    console.says("Moved to position 2.")
    expect(console.cards.nth(1)).to_contain_text("front.jpg")
    console.cards.nth(2).drag_to(console.cards.nth(0))
    console.says("Moved to position 1.")
    assert names(gateway, token, realty) == ["attic.jpg", "garden.jpg", "front.jpg"]

    # A refused delete: the API's message is shown, and the button is a plain Delete button again.
    console.press("Publish image 1 (attic.jpg)")
    console.says("Image 1 published.")
    delete = page.get_by_role("button", name="Delete image 1 (attic.jpg)")
    delete.click()
    expect(delete).to_have_text("Confirm delete")
    console.says("Press “Confirm delete” again to delete image 1 for good.")
    delete.click()
    console.says("Image 1 was not deleted.")
    expect(page.get_by_role("alert")).to_contain_text("INVALID_STATUS")
    expect(delete).to_have_text("Delete")
    # An unpublished one goes. Armed, it stays armed when the gallery is drawn again meanwhile (as it is
    # every 2 s while an image is being processed).
    delete = page.get_by_role("button", name="Delete image 3 (front.jpg)")
    delete.click()
    expect(delete).to_have_text("Confirm delete")
    console.press("Refresh")
    console.says("Gallery refreshed.")
    expect(delete).to_have_text("Confirm delete")
    delete.click()
    console.says("Image 3 deleted.")
    expect(console.cards).to_have_count(2)

    page.get_by_label("Source realty id").fill(source)
    console.press("Copy its images here")
    console.says(f"The images of realty {source} were copied here.")
    expect(console.cards).to_have_count(3)
    expect(console.cards.nth(2)).to_contain_text("porch.jpg")
    console.press("Refresh")
    console.says("Gallery refreshed.")
    console.press("Forget")
    console.says("Token forgotten.")

    said = console.said()
    assert [s for s in said if "[object" in s or not s.rstrip().endswith((".", "…"))] == [], said
    offline.assert_self_contained()


def test_console_buttons_stay_readable_on_hover_and_badges_leave_the_thumbnails_whole(gateway, offline, make_token):
    page, token, realty = offline.page, make_token(), str(uuid.uuid4())
    save_over_rest(gateway, token, realty, "front.jpg", make_jpeg(320, 240))
    use_token_in_console(page, gateway, token)
    page.get_by_label("Realty id (UUID)").fill(realty)
    page.get_by_role("button", name="Open").click()
    card = page.locator("#gallery li.card").first
    expect(card.locator("img")).to_have_count(1)
    page.wait_for_function("() => [...document.querySelectorAll('#gallery img')].every(i => i.complete && i.naturalWidth)")

    # WCAG AA for normal text: 4.5:1, resting and under the pointer, for every kind of button.
    page.get_by_label("Source realty id").fill(str(uuid.uuid4()))
    for name in ("Use token", "Open", "Copy its images here", "Forget", "Publish all",
                 "Publish image 1 (front.jpg)", "Delete image 1 (front.jpg)"):
        button = page.get_by_role("button", name=name, exact=True)
        page.mouse.move(0, 0)
        resting = button.evaluate(CONTRAST)
        button.hover()
        hovered = button.evaluate(CONTRAST)
        assert min(resting, hovered) >= 4.5, f"{name}: contrast {resting:.1f} resting, {hovered:.1f} on hover"

    # The position badge sits beside the picture, not on it.
    badge, picture = card.locator(".position").bounding_box(), card.locator("img").bounding_box()
    expect(card.locator(".position")).to_have_text("#1")
    overlaps = (badge["x"] < picture["x"] + picture["width"] and picture["x"] < badge["x"] + badge["width"]
                and badge["y"] < picture["y"] + picture["height"] and picture["y"] < badge["y"] + badge["height"])
    assert not overlaps, (badge, picture)
    offline.assert_self_contained()


SEED_FORM = """<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8" /></head><body>
<form action="{url}" method="{method}" enctype="multipart/form-data">
{inputs}
  File:
  <input type="file" name="file" /> <br />
  <input type="submit" name="submit" value="Upload to Amazon S3" />
</form></body></html>"""
SEED_FIELDS = ["key", "Policy", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature",
               "X-Amz-Security-Token"]


def test_the_seeds_html_form_lands_on_a_page_that_says_what_next(gateway, offline, make_token):
    """The seed's example form, filled from a grant as the seed shows it, submitted by a person."""
    token = make_token()
    grant = requests.get(f"{gateway}/uploadGrants?type=image/jpeg", timeout=30, headers={
        "Authorization": f"Bearer {token}", "Request-ID": str(uuid.uuid4())}).json()
    inputs = "\n".join(f'  <input type="hidden" name="{name}" value="{escape(grant["fields"].get(name, ""))}" />'
                       for name in SEED_FIELDS)
    page = offline.page
    page.set_content(SEED_FORM.format(url=escape(grant["url"]), method=grant["method"], inputs=inputs))
    page.locator("input[type=file]").set_input_files(
        {"name": "front.jpg", "mimeType": "image/jpeg", "buffer": make_jpeg(64, 48)})
    page.get_by_role("button", name="Upload to Amazon S3").click()

    expect(page.get_by_role("heading")).to_have_text("Upload received")
    expect(page.locator("body")).to_contain_text(grant["fields"]["key"])
    saved = requests.post(f"{gateway}/realty/{uuid.uuid4()}/images", timeout=30, json={
        "uploadedImages": [{"key": grant["fields"]["key"]}]}, headers={
        "Authorization": f"Bearer {token}", "Request-ID": str(uuid.uuid4())})
    assert saved.status_code == 201, saved.text
    offline.assert_self_contained()


CROSS_ORIGIN_SCRIPT = """async ({base, token, realty, jpeg}) => {
  const auth = {Authorization: `Bearer ${token}`};
  const grant = await (await fetch(`${base}/uploadGrants?type=image/jpeg`,
    {headers: {...auth, "Request-ID": crypto.randomUUID()}})).json();
  const form = new FormData();
  for (const [name, value] of Object.entries(grant.fields)) form.append(name, value);
  form.append("file", new Blob([Uint8Array.from(atob(jpeg), (c) => c.charCodeAt(0))], {type: "image/jpeg"}), "a.jpg");
  const uploaded = await new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();  // an upload listener makes the browser send a preflight first
    xhr.open("POST", grant.url);
    xhr.upload.addEventListener("progress", () => {});
    xhr.onload = () => resolve(xhr.status);
    xhr.onerror = () => reject(new Error("upload blocked"));
    xhr.send(form);
  });
  const requestId = crypto.randomUUID();
  const saved = await fetch(`${base}/realty/${realty}/images`, {method: "POST", body: JSON.stringify(
    {uploadedImages: [{key: grant.fields.key}]}), headers: {...auth, "Request-ID": requestId,
    "Content-Type": "application/json", "Idempotency-Key": requestId}});
  const graphql = await fetch(`${base}/graphql`, {method: "POST", headers: {"x-api-token": token,
    "Content-Type": "application/json"}, body: JSON.stringify({query: `{ property(id: "${realty}") { realtyId } }`})});
  return {uploaded, saved: saved.status, echoed: saved.headers.get("Request-ID") === requestId,
          graphql: await graphql.json()};
}"""


def test_a_page_on_an_allowed_origin_uses_both_apis_and_the_upload_endpoint(settings, offline, make_token):
    """CORS as a browser enforces it: another origin's page, with preflights, XHR upload and all."""
    from wsgi import create_app

    other_app = Flask("another_app")
    other_app.get("/")(lambda: "<!doctype html><title>Another app</title><p>Another app</p>")
    token, realty, jpeg = make_token(), str(uuid.uuid4()), base64.b64encode(make_jpeg(64, 48)).decode()
    with serving(other_app) as allowed_origin:
        app = create_app(dataclasses.replace(settings, cors_origins=(allowed_origin,)))
        try:
            with serving(app) as base:
                offline.page.goto(allowed_origin + "/")
                answers = offline.page.evaluate(CROSS_ORIGIN_SCRIPT,
                                                {"base": base, "token": token, "realty": realty, "jpeg": jpeg})
                assert answers == {"uploaded": 204, "saved": 201, "echoed": True,
                                   "graphql": {"data": {"property": {"realtyId": realty}}}}

                # The same page from an origin that is not listed: the browser refuses to hand it anything.
                offline.page.goto(allowed_origin.replace("127.0.0.1", "localhost") + "/")
                blocked = offline.page.evaluate("""async (base) => {
                    try { await fetch(`${base}/uploadGrants?type=image/png`); return "answered"; }
                    catch (e) { return "blocked"; } }""", base)
                assert blocked == "blocked"
        finally:
            app.extensions["realty"].close()
    offline.assert_self_contained()


FRAMING_PAGE = """<!doctype html><title>Another site</title>
<iframe id="framed" src="{url}" width="800" height="600"></iframe>"""


@pytest.mark.parametrize("path", ["/docs", "/graphql", "/"])
def test_another_site_cannot_show_a_page_in_a_frame(gateway, offline, path):
    """Clickjacking: a page of another origin frames the gateway's; Chromium must refuse to show it."""
    other_app = Flask("another_site")
    other_app.get("/")(lambda: FRAMING_PAGE.format(url=escape(gateway + path)))
    with serving(other_app) as other_origin:
        offline.page.goto(other_origin.replace("127.0.0.1", "localhost") + "/")
        offline.page.wait_for_load_state("load")
        # A refused frame shows the browser's own error page: nothing of the page (each names the gateway).
        expect(offline.page.frame_locator("#framed").locator("body")).not_to_contain_text("Realty")
    assert any("frame-ancestors 'none'" in error for error in offline.script_errors), "Chromium refused it"
    assert offline.attempted_off_machine == []


def processed_listing(base: str, token: str, realty: str) -> list[dict]:
    """The listing once every image is processed (the jobs run in the gateway, after the save)."""
    for _ in range(600):
        images = listing(base, token, realty)
        if all(image["processing"] != "PENDING" for image in images):
            return images
        threading.Event().wait(0.1)
    raise AssertionError("render jobs did not finish")


def test_console_shows_duplicates_linking_to_the_other_listing_issues_and_channels(gateway, offline, make_token):
    page, token = offline.page, make_token()
    here, there = str(uuid.uuid4()), str(uuid.uuid4())
    photo = encoded(scene(31, 800, 533), quality=90)
    save_over_rest(gateway, token, here, "living.jpg", photo)
    save_over_rest(gateway, token, there, "living-again.jpg", photo)
    [mine] = processed_listing(gateway, token, here)
    [theirs] = processed_listing(gateway, token, there)
    use_token_in_console(page, gateway, token)
    page.goto(f"{gateway}/#realty={here}")

    card = page.locator("#gallery li.card")
    expect(card).to_have_count(1)
    expect(card.locator(".badge.issue")).to_have_text("Low resolution")
    expect(card.locator(".badge.channel")).to_have_count(len(mine["channels"]))
    airbnb = card.locator(".badge.channel", has_text="Airbnb")
    expect(airbnb).to_have_text("✗ Airbnb")
    expect(airbnb).to_have_attribute("title", "1024×683 needed, this is 800×533")
    link = card.locator(".duplicates a")
    expect(link).to_have_attribute("href", f"#realty={there}")
    expect(card.locator(".duplicates")).to_contain_text("(the same file)")
    offline.screenshot("console-photo-checks")

    link.click()  # opens the other listing, whose photo names this one
    expect(page.get_by_label("Realty id (UUID)")).to_have_value(there)
    expect(page.locator("#gallery li.card .duplicates a")).to_have_attribute("href", f"#realty={here}")
    assert theirs["duplicates"][0]["realtyImageId"] == mine["realtyImageId"]
    offline.assert_self_contained()
