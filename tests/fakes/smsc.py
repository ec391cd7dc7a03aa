"""A small SMSC (SMPP 3.4 server) on the loopback, for tests: it binds transceivers,
acknowledges each submit_sm with a message id, records what it received, and sends a
delivery receipt for each. ``drop_on_submit`` makes it cut the link on the next N submits
before recording or answering them, as an SMSC that goes away does."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass

from smpplib import smpp


@dataclass(frozen=True)
class Received:
    message_id: str
    destination: str
    short_message: bytes
    data_coding: int
    esm_class: int


class _Peer:
    """Just enough of an smpplib client for make_pdu/generate (a sequence source)."""

    def __init__(self) -> None:
        self._sequence = 0

    @property
    def sequence(self) -> int:
        return self._sequence

    def next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence


class FakeSmsc:
    def __init__(self, *, receipts: bool = True) -> None:
        self.received: list[Received] = []
        self.binds: list[tuple[str, str]] = []
        self.drop_on_submit = 0
        self.send_receipts = receipts
        self._lock = threading.Lock()
        self._next_id = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stopping = False
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"smpp://khidmat:secret@127.0.0.1:{self.port}"

    def texts(self) -> list[str]:
        """Each received part's text (UDH stripped)."""
        out = []
        for r in self.received:
            body = r.short_message[6:] if r.esm_class & 0x40 else r.short_message
            out.append(body.decode("utf-16-be") if r.data_coding == 8 else body.decode("latin-1"))
        return out

    def messages(self) -> list[tuple[str, str]]:
        """(destination, whole text) per message, concatenated parts joined in order."""
        whole: dict[tuple[str, int], list[tuple[int, str]]] = {}
        order: list[tuple[str, int]] = []
        for index, (r, text) in enumerate(zip(self.received, self.texts(), strict=True)):
            key = (r.destination, r.short_message[3]) if r.esm_class & 0x40 else (r.destination, -1 - index)
            seq = r.short_message[5] if r.esm_class & 0x40 else 1
            if key not in whole:
                order.append(key)
            whole.setdefault(key, []).append((seq, text))
        return [(key[0], "".join(t for _, t in sorted(whole[key]))) for key in order]

    def _accept(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self._connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        peer = _Peer()
        try:
            while True:
                head = self._read(conn, 4)
                if head is None:
                    return
                (length,) = struct.unpack(">L", head)
                rest = self._read(conn, length - 4)
                if rest is None:
                    return
                pdu = smpp.parse_pdu(head + rest, client=peer, allow_unknown_opt_params=True)
                if pdu.command == "bind_transceiver":
                    self.binds.append((_text(pdu.system_id), _text(pdu.password)))
                    self._answer(conn, peer, "bind_transceiver_resp", pdu.sequence, system_id="fake")
                elif pdu.command == "submit_sm":
                    with self._lock:
                        if self.drop_on_submit > 0:
                            self.drop_on_submit -= 1
                            conn.close()
                            return
                        self._next_id += 1
                        message_id = f"m{self._next_id}"
                        self.received.append(
                            Received(
                                message_id,
                                _text(pdu.destination_addr),
                                pdu.short_message,
                                int(pdu.data_coding or 0),
                                int(pdu.esm_class or 0),
                            )
                        )
                    self._answer(conn, peer, "submit_sm_resp", pdu.sequence, message_id=message_id)
                    if self.send_receipts:
                        receipt = f"id:{message_id} sub:001 dlvrd:001 stat:DELIVRD err:000".encode()
                        deliver = smpp.make_pdu(
                            "deliver_sm", client=peer, esm_class=0x04, short_message=receipt,
                            receipted_message_id=message_id, source_addr="", destination_addr="",
                        )
                        conn.sendall(deliver.generate())
                elif pdu.command == "enquire_link":
                    self._answer(conn, peer, "enquire_link_resp", pdu.sequence)
                elif pdu.command == "unbind":
                    self._answer(conn, peer, "unbind_resp", pdu.sequence)
                    conn.close()
                    return
        except OSError:
            return

    @staticmethod
    def _answer(conn: socket.socket, peer: _Peer, command: str, sequence: int, **fields: object) -> None:
        answer = smpp.make_pdu(command, client=peer, **fields)
        answer.sequence = sequence
        conn.sendall(answer.generate())

    @staticmethod
    def _read(conn: socket.socket, size: int) -> bytes | None:
        chunks, got = [], 0
        while got < size:
            try:
                chunk = conn.recv(size - got)
            except OSError:
                return None
            if not chunk:
                return None
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self._stopping = True
        self._server.close()
        for conn in self._connections:
            with contextlib.suppress(OSError):
                conn.close()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")
