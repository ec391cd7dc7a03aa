"""A small HTTP SMS gateway on the loopback, for tests: it takes one part a form POST (as
``queue_server.sms.gateways.HttpGateway`` sends it), checks the credentials, answers with a
message id and records what it took. A part whose ``ref`` it has taken before gets the
same id and is not taken again. ``fail_next`` answers the next N submits with a 503 before
taking them; ``lose_answer_next`` takes the next N and then cuts the connection without
answering (the sender cannot know it left); ``cut_answer_next`` takes them and cuts the
answer half-way."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from queue_server.sms import parts


@dataclass(frozen=True)
class Taken:
    message_id: str
    to: str
    sender: str
    dcs: int
    udh: bytes
    body: bytes
    ref: str

    @property
    def text(self) -> str:
        return parts.decode_body(self.body, self.dcs)


class FakeHttpGateway:
    USERNAME, PASSWORD = "khidmat", "s3cret"

    def __init__(self) -> None:
        self.taken: list[Taken] = []
        self.requests = 0
        self.fail_next = 0
        self.lose_answer_next = 0
        self.cut_answer_next = 0
        self._by_ref: dict[str, str] = {}
        self._lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode(), keep_blank_values=True).items()}
                gateway.handle(self, form)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.handle_error = lambda *args: None  # type: ignore[method-assign]  (a cut answer is meant)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.USERNAME}:{self.PASSWORD}@127.0.0.1:{self.port}/api/send"

    def handle(self, handler: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        with self._lock:
            self.requests += 1
            if (form.get("username"), form.get("password")) != (self.USERNAME, self.PASSWORD):
                self._answer(handler, 401, '{"error": "bad credentials"}')
                return
            if self.fail_next > 0:
                self.fail_next -= 1
                self._answer(handler, 503, '{"error": "busy"}')
                return
            ref = form.get("ref", "")
            message_id = self._by_ref.get(ref) if ref else None
            if message_id is None:
                message_id = f"h{len(self.taken) + 1:05d}"
                self.taken.append(
                    Taken(
                        message_id, form.get("to", ""), form.get("from", ""), int(form.get("dcs", "0")),
                        bytes.fromhex(form.get("udh", "")), bytes.fromhex(form.get("message", "")), ref,
                    )
                )
                if ref:
                    self._by_ref[ref] = message_id
            if self.lose_answer_next > 0:
                self.lose_answer_next -= 1
                handler.close_connection = True
                handler.connection.close()
                return
            if self.cut_answer_next > 0:  # headers promise more than the body brings
                self.cut_answer_next -= 1
                handler.send_response(200)
                handler.send_header("Content-Length", "100")
                handler.end_headers()
                handler.wfile.write(b'{"message_id"')
                handler.wfile.flush()
                handler.close_connection = True
                handler.connection.close()
                return
            self._answer(handler, 200, f'{{"message_id": "{message_id}"}}')

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, body: str) -> None:
        data = body.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def texts(self) -> list[str]:
        return [t.text for t in self.taken]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
