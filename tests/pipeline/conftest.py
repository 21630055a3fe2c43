"""What the webhook tests share: a real HTTP receiver on loopback and the settings that let
deliveries reach it and retry quickly."""

import http.server
import json
import threading
import time

import pytest


class Receiver:
    """An HTTP server on loopback that records every request and answers as scripted.

    ``answers`` is consumed one per request: a status code, ``("redirect", path)``
    or ``"hang"`` (no answer until the test ends); when empty, 200.
    """

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list = []
        self.released = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append(
                        {
                            "at": time.monotonic(),
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body,
                            "json": json.loads(body),
                        }
                    )
                    answer = receiver.answers.pop(0) if receiver.answers else 200
                if answer == "hang":
                    receiver.released.wait(30)
                    return
                if isinstance(answer, tuple):
                    self.send_response(302)
                    self.send_header("Location", answer[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(answer)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def events(self) -> list[str]:
        return [r["json"]["event"] for r in self.requests]


@pytest.fixture
def webhook_settings(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True  # the receiver is on loopback
    settings.WEBHOOKS_BACKOFF_BASE_MS = 20
    settings.WEBHOOKS_MAX_ATTEMPTS = 3
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 3
    settings.WEBHOOKS_TIMEOUT_SECONDS = 2
    return settings


@pytest.fixture
def receiver():
    server = Receiver()
    server.thread.start()
    yield server
    server.released.set()
    server.server.shutdown()
    server.server.server_close()
