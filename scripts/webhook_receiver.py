"""A webhook receiver to try the gateway's webhooks with: verifies every delivery with the Standard
Webhooks library and prints the event. See docs/events.md.

    WEBHOOK_SECRET=whsec_... python scripts/webhook_receiver.py [--port 9000]

Answers 204 to a delivery whose signature verifies, 400 to anything else (the gateway then tries
again later, as it would for a real receiver that is down).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    secret = os.environ.get("WEBHOOK_SECRET")
    if not secret:
        sys.exit("Set WEBHOOK_SECRET to the `secret` the gateway answered when the webhook was made")
    verifier = Webhook(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            try:
                event = verifier.verify(body, dict(self.headers))
            except WebhookVerificationError as exc:
                print(f"refused: {exc}", flush=True)
                self.send_response(400)
            else:
                image = (event["data"].get("image") or {})
                print(json.dumps({"id": event["id"], "type": event["type"], "occurredAt": event["occurredAt"],
                                  "realtyImageId": event["data"].get("realtyImageId"),
                                  "processing": image.get("processing")}), flush=True)
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    print(f"listening on http://127.0.0.1:{args.port}/", flush=True)
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
