"""The pages a browser opens (/docs, GET /graphql, the console at /) load nothing from outside the gateway.

These read the HTML the gateway serves and fetch what it references through the test client; the
browser tests (test_browser.py) then check that the pages really render with the network cut off.
Also here: the seed's HTML form gets a page to land on, and GraphQL answers end with a newline.
"""
from __future__ import annotations

import hashlib
import io
import re
import uuid
from urllib.parse import urljoin, urlsplit

import pytest

from graphql_api.explorer import STATIC_DIR as EXPLORER_STATIC

PAGES = ["/docs", "/graphql", "/"]
ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
MODULE_IMPORT = re.compile(r"""^import .* from ["'](\./[^"']+)["'];""", re.MULTILINE)


def assets_of(html: str, page: str) -> list[str]:
    return [urljoin("http://gateway" + page, ref) for ref in ASSET.findall(html) if not ref.startswith("data:")]


@pytest.mark.parametrize("page", PAGES)
def test_every_asset_of_a_page_is_served_by_the_gateway(client, page):
    response = client.get(page)
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "cdn" not in html.lower() and "esm.sh" not in html and "unpkg" not in html

    scripts_and_styles = 0
    for url in assets_of(html, page):
        parts = urlsplit(url)
        assert parts.netloc == "gateway", f"{page} loads {url} from elsewhere"
        asset = client.get(parts.path)
        assert asset.status_code == 200, url
        scripts_and_styles += asset.mimetype in ("text/javascript", "text/css")
        if asset.mimetype == "text/javascript":
            # The console's ES modules import each other relatively: those must be served too.
            for module in MODULE_IMPORT.findall(asset.get_data(as_text=True)):
                assert client.get(urljoin(parts.path, module)).status_code == 200, module
    assert scripts_and_styles >= 2


def test_the_pages_restrict_scripts_to_the_gateway(client):
    for page in ("/graphql", "/"):
        policy = client.get(page).headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "object-src 'none'" in policy


def frame_policies(response) -> list[str]:
    """The `frame-ancestors` directives of every Content-Security-Policy header (a browser enforces each)."""
    return [directive.strip() for policy in response.headers.getlist("Content-Security-Policy")
            for directive in policy.split(";") if directive.strip().startswith("frame-ancestors")]


@pytest.mark.parametrize("path", [*PAGES, "/openapi.json", "/healthz", "/docs/swagger-ui/swagger-ui-bundle.js",
                                  "/console/console.js", "/no-such-page"])
def test_no_answer_may_be_framed_by_another_site_or_sniffed(client, path):
    """Clickjacking: another origin must not show a gateway page in a frame (issue 20, finding 9)."""
    response = client.get(path)

    assert frame_policies(response) == ["frame-ancestors 'none'"], path
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_pages_are_found_from_any_working_directory(client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for page in PAGES:
        assert client.get(page).status_code == 200, page
    assert client.get("/console/console.js").status_code == 200
    assert client.get("/graphql/static/graphiql/graphiql.min.js").status_code == 200
    assert client.get("/docs/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_vendored_explorer_files_are_the_ones_recorded_with_their_licences():
    vendored = EXPLORER_STATIC / "graphiql"
    record = (vendored / "VENDORED.md").read_text()
    files = sorted(p for p in vendored.iterdir() if p.suffix in (".js", ".css"))
    assert files, "nothing vendored"
    for path in files:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert f"{digest}  {path.name}" in record, f"{path.name} differs from what make vendor-assets fetched"
    for licence in re.findall(r"licenses/[\w.-]+", record):
        assert (vendored / licence).read_text().startswith("MIT License"), licence


def test_graphql_answers_end_with_a_newline(client, make_token):
    answer = client.post("/graphql", json={"query": "{ __typename }"},
                         headers={"Authorization": f"Bearer {make_token()}"})
    refused = client.post("/graphql", json={"query": "{ __typename }"})
    assert answer.status_code == 200 and answer.get_data().endswith(b"}\n")
    assert refused.status_code == 401 and refused.get_data().endswith(b"}\n")


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def post_seed_form(client, token: str, headers: dict[str, str]):
    """A grant's fields, then the file, as the seed's HTML form posts them (to the local store)."""
    grant = client.get("/uploadGrants?type=image/png", headers={
        "Authorization": f"Bearer {token}", "Request-ID": str(uuid.uuid4())}).get_json()
    form = {**grant["fields"], "file": (io.BytesIO(PNG), "living-room.png", "image/png")}
    return grant["fields"]["key"], client.post(urlsplit(grant["url"]).path, data=form, headers=headers)


def test_the_seed_form_submitted_by_a_person_lands_on_a_page(client, make_token):
    key, response = post_seed_form(client, make_token(), {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"})

    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Upload received" in page and key in page and "POST /realty/{realtyId}/images" in page
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert frame_policies(response) == ["frame-ancestors 'none'"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_scripts_posting_the_seed_form_get_s3s_empty_204(client, make_token):
    _key, response = post_seed_form(client, make_token(), {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"})

    assert response.status_code == 204 and response.get_data() == b""
