"""A fake ESC/POS network printer on 127.0.0.1, and a guard against real printers in tests.

``FakeEscposPrinter`` listens on an ephemeral port, records every byte of every connection and
answers the real-time status queries ``DLE EOT n`` (n = 1, 2, 3, 4) the way an Epson-style
printer in the current ``mode`` would:

=============  ===============  ==================  ==============
mode           DLE EOT 1        DLE EOT 2           DLE EOT 4
=============  ===============  ==================  ==============
ok             0x12 online      0x12                0x12
paper_low      0x12 online      0x12                0x1e near end
paper_out      0x1a offline     0x32 paper end      0x7e end
offline        0x1a offline     0x52 error          0x12
cover_open     0x1a offline     0x16 cover open     0x12
silent         (reads everything, never answers)
closed         (no listener: connections are refused)
=============  ===============  ==================  ==============

The byte stream is parsed as ESC/POS, so a query is recognised wherever it falls in the
stream (split across reads, or right after print data) while the same three bytes inside an
image's data are not mistaken for one.

Use it as a context manager (``with FakeEscposPrinter() as printer: ...``) or through the
``fake_escpos_printer`` fixture (``pytest_plugins = ["tests.fakes.escpos_printer"]``).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import pytest
from escpos import printer as escpos_printer

MODES: tuple[str, ...] = (
    "ok",
    "paper_low",
    "paper_out",
    "offline",
    "cover_open",
    "silent",
    "closed",
)

STATUS_BYTES: dict[str, dict[int, int]] = {
    "ok": {1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12},
    "paper_low": {1: 0x12, 2: 0x12, 3: 0x12, 4: 0x1E},
    "paper_out": {1: 0x1A, 2: 0x32, 3: 0x12, 4: 0x7E},
    "offline": {1: 0x1A, 2: 0x52, 3: 0x32, 4: 0x12},
    "cover_open": {1: 0x1A, 2: 0x16, 3: 0x12, 4: 0x12},
}

DLE, ESC, FS, GS = 0x10, 0x1B, 0x1C, 0x1D
_EOT, _ENQ, _DC4 = 0x04, 0x05, 0x14

# Parameter byte counts of the fixed-length commands a ticket job may contain.
_ESC_PARAMS = {
    **dict.fromkeys(b"@2<SL", 0),
    **dict.fromkeys(b"3adE!-tJMG{VRr TUe", 1),
    **dict.fromkeys(b"$\\c", 2),
    ord("p"): 3,
}
_GS_PARAMS = {
    **dict.fromkeys(b"!BhwHfabIrE/T", 1),
    **dict.fromkeys(b"LW$\\P", 2),
    ord("^"): 3,
}


def _u16(buf: bytearray, i: int) -> int:
    return buf[i] + 256 * buf[i + 1]


def _until_nul(buf: bytearray, start: int) -> int | None:
    end = buf.find(0, start)
    return None if end < 0 else end + 1


def command_length(buf: bytearray, i: int) -> tuple[str, int] | None:
    """Name and byte length of the ESC/POS command at ``buf[i]``; None if it is incomplete.

    Plain bytes (text, LF) come back as ``("byte", 1)``; unknown ESC/GS/FS commands are taken
    as two bytes, which is enough for the commands python-escpos sends for a ticket.
    """
    avail = len(buf) - i
    first = buf[i]
    if first not in (DLE, ESC, GS, FS):
        return "byte", 1
    if avail < 2:
        return None
    second = buf[i + 1]
    char = chr(second)
    if first == DLE:
        if second in (_EOT, _ENQ):
            if avail < 3:
                return None
            return ("DLE EOT" if second == _EOT else "DLE ENQ"), 3
        if second == _DC4:
            return ("DLE DC4", 5) if avail >= 5 else None
        return "byte", 1
    if first == ESC:
        if second == ord("*"):  # ESC * m nL nH d1...dk: column bit image
            if avail < 5:
                return None
            columns = _u16(buf, i + 3)
            per_column = 3 if buf[i + 2] in (32, 33) else 1
            length = 5 + columns * per_column
        elif second == ord("D"):  # ESC D n1...nk NUL: tab stops
            end = _until_nul(buf, i + 2)
            length = end - i if end is not None else avail + 1
        else:
            length = 2 + _ESC_PARAMS.get(second, 0)
        return (f"ESC {char}", length) if avail >= length else None
    if first == GS:
        if second == ord("v"):  # GS v 0 m xL xH yL yH d1...dk: raster bit image
            if avail < 8:
                return None
            length = 8 + _u16(buf, i + 4) * _u16(buf, i + 6)
            name = "GS v 0"
        elif second == ord("("):  # GS ( fn pL pH d1...dk
            if avail < 5:
                return None
            length = 5 + _u16(buf, i + 3)
            name = f"GS ( {chr(buf[i + 2])}"
        elif second == ord("8"):  # GS 8 fn p1 p2 p3 p4 d1...dk
            if avail < 7:
                return None
            size = int.from_bytes(buf[i + 3 : i + 7], "little")
            length = 7 + size
            name = f"GS 8 {chr(buf[i + 2])}"
        elif second == ord("V"):  # GS V m [n]
            if avail < 3:
                return None
            length = 4 if buf[i + 2] in (65, 66, 97, 98, 103, 104) else 3
            name = "GS V"
        elif second == ord("k"):  # GS k m d1...dk NUL | GS k m n d1...dn
            if avail < 3:
                return None
            if buf[i + 2] <= 6:
                end = _until_nul(buf, i + 3)
                length = end - i if end is not None else avail + 1
            else:
                length = 4 + buf[i + 3] if avail >= 4 else avail + 1
            name = "GS k"
        else:
            length = 2 + _GS_PARAMS.get(second, 0)
            name = f"GS {char}"
        return (name, length) if avail >= length else None
    # FS
    if second == ord("("):
        if avail < 5:
            return None
        length = 5 + _u16(buf, i + 3)
        return (f"FS ( {chr(buf[i + 2])}", length) if avail >= length else None
    length = 4 if second == ord("p") else 2
    return (f"FS {char}", length) if avail >= length else None


class EscPosStream:
    """Incremental ESC/POS parser: feed it bytes as they arrive, get whole commands back."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        self._pending += data
        commands: list[tuple[str, bytes]] = []
        i = 0
        while i < len(self._pending):
            parsed = command_length(self._pending, i)
            if parsed is None:
                break
            name, length = parsed
            commands.append((name, bytes(self._pending[i : i + length])))
            i += length
        del self._pending[:i]
        return commands


@dataclass
class _Connection:
    data: bytearray = field(default_factory=bytearray)
    payload: bytearray = field(default_factory=bytearray)  # everything but status queries
    stream: EscPosStream = field(default_factory=EscPosStream)


class FakeEscposPrinter:
    """A threaded fake of a network receipt printer (see the module docstring)."""

    def __init__(
        self,
        mode: str = "ok",
        *,
        host: str = "127.0.0.1",
        hangup_after: int | None = None,
        paper_out_after: int | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self._mode = mode
        self.host = host
        #: Drop each connection once it has sent this many bytes (a printer losing power).
        self.hangup_after = hangup_after
        #: Switch to "paper_out" once a connection has sent this many bytes (the roll ends
        #: in the middle of a ticket).
        self.paper_out_after = paper_out_after
        self.port = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._connections: list[_Connection] = []
        self._finished = 0
        self._commands: list[str] = []
        self._status_queries: list[int] = []
        self._requests: list[str] = []
        self._applied = 0
        self._selector: selectors.DefaultSelector | None = None
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._open: dict[socket.socket, _Connection] = {}

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> FakeEscposPrinter:
        if self._thread is not None:
            raise RuntimeError("fake printer already started")
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._listen()  # even in "closed" mode, to reserve a port for later
        if self._mode == "closed":
            self._unlisten()
        self._thread = threading.Thread(target=self._serve, name="fake-escpos", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, close every socket and join the thread."""
        if self._thread is None:
            return
        self._request("stop")
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            raise RuntimeError("fake printer thread did not stop")
        self._thread = None
        for sock in (self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._wake_r = self._wake_w = None

    def __enter__(self) -> FakeEscposPrinter:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- what tests look at -----------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        """Change behaviour; returns once the server applied it (e.g. the port is closed)."""
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {value!r}")
        previous, self._mode = self._mode, value
        if self._thread is None:
            return
        if value == "closed" and previous != "closed":
            self._request("unlisten")
        elif previous == "closed" and value != "closed":
            self._request("listen")

    @property
    def jobs(self) -> list[bytes]:
        """Bytes received on each connection, in the order the connections were accepted."""
        with self._lock:
            return [bytes(c.data) for c in self._connections]

    @property
    def received(self) -> bytes:
        """Every byte received, all connections concatenated."""
        return b"".join(self.jobs)

    @property
    def printed(self) -> list[bytes]:
        """Per connection, the bytes other than status queries; connections that only asked
        for status are left out."""
        with self._lock:
            return [bytes(c.payload) for c in self._connections if c.payload]

    @property
    def commands(self) -> list[str]:
        """Names of the ESC/POS commands received ("GS v 0", "GS ( k", "DLE EOT", ...)."""
        with self._lock:
            return list(self._commands)

    @property
    def status_queries(self) -> list[int]:
        """The n of every ``DLE EOT n`` received."""
        with self._lock:
            return list(self._status_queries)

    def wait_for_connections(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """Wait until ``count`` connections have been closed by the client (so all their bytes
        are in) and return ``jobs``."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._finished >= count, timeout):
                raise TimeoutError(
                    f"only {self._finished} of {count} connections finished within {timeout}s"
                )
        return self.jobs

    # --- server thread ----------------------------------------------------------------

    def _request(self, action: str) -> None:
        assert self._wake_w is not None
        with self._changed:
            self._requests.append(action)
            target = self._applied + len(self._requests)
        self._wake_w.send(b"x")
        with self._changed:
            if not self._changed.wait_for(lambda: self._applied >= target, 5):
                raise RuntimeError(f"fake printer did not apply {action!r}")

    def _listen(self) -> None:
        assert self._selector is not None
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(8)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._selector.register(listener, selectors.EVENT_READ, "accept")

    def _unlisten(self) -> None:
        assert self._selector is not None
        if self._listener is not None:
            self._selector.unregister(self._listener)
            self._listener.close()
            self._listener = None
        for sock in list(self._open):
            self._drop(sock)

    def _serve(self) -> None:
        assert self._selector is not None
        running = True
        while running:
            for key, _ in self._selector.select():
                sock = key.fileobj
                if key.data == "wake":
                    running = self._apply_requests()
                    if not running:
                        break
                elif key.data == "accept":
                    if sock is self._listener:  # not closed by a request in this batch
                        self._accept()
                elif isinstance(sock, socket.socket) and sock in self._open:
                    self._read(sock)
        self._shutdown()

    def _apply_requests(self) -> bool:
        assert self._wake_r is not None
        with contextlib.suppress(BlockingIOError):
            self._wake_r.recv(1024)
        with self._changed:
            actions, self._requests = self._requests, []
        running = True
        for action in actions:
            if action == "unlisten":
                self._unlisten()
            elif action == "listen" and self._listener is None:
                self._listen()
            elif action == "stop":
                running = False
        with self._changed:
            self._applied += len(actions)
            self._changed.notify_all()
        return running

    def _accept(self) -> None:
        assert self._listener is not None
        assert self._selector is not None
        try:
            sock, _ = self._listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        with self._lock:
            conn = _Connection()
            self._connections.append(conn)
        self._open[sock] = conn
        self._selector.register(sock, selectors.EVENT_READ, "conn")

    def _read(self, sock: socket.socket) -> None:
        conn = self._open[sock]
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(sock)
            return
        answers = bytearray()
        with self._lock:
            conn.data += data
            if self.paper_out_after is not None and len(conn.data) >= self.paper_out_after:
                self._mode = "paper_out"
            for name, raw in conn.stream.feed(data):
                if name == "DLE EOT":
                    self._commands.append(f"DLE EOT {raw[2]}")
                    self._status_queries.append(raw[2])
                    answer = STATUS_BYTES.get(self._mode, {}).get(raw[2])
                    if answer is not None:
                        answers.append(answer)
                else:
                    if name != "byte":
                        self._commands.append(name)
                    conn.payload += raw
        if answers:
            try:
                sock.sendall(bytes(answers))
            except OSError:
                self._drop(sock)
                return
        if self.hangup_after is not None and len(conn.data) >= self.hangup_after:
            self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        assert self._selector is not None
        self._selector.unregister(sock)
        self._open.pop(sock, None)
        sock.close()
        with self._changed:
            self._finished += 1
            self._changed.notify_all()

    def _shutdown(self) -> None:
        assert self._selector is not None
        self._unlisten()
        if self._wake_r is not None:
            self._selector.unregister(self._wake_r)
        self._selector.close()
        self._selector = None
        with self._changed:  # release anyone who asked for something after "stop"
            self._applied += len(self._requests)
            self._requests.clear()
            self._changed.notify_all()


@pytest.fixture
def fake_escpos_printer() -> Iterator[FakeEscposPrinter]:
    """A running fake printer in mode "ok"; stopped after the test."""
    with FakeEscposPrinter() as printer:
        yield printer


# --- no real printers in tests ------------------------------------------------------------

LOCAL_HOSTS: frozenset[str] = frozenset({"127.0.0.1", "localhost", "::1"})


class RealPrinterForbiddenError(BaseException):
    """A test tried to reach a real printer.

    A BaseException so that adapters which turn transport errors into PrintError cannot
    swallow it: the test fails loudly instead of passing with an "offline" printer.
    """


def forbid_real_printers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every python-escpos route to real hardware raise RealPrinterForbiddenError:
    constructing Usb, Serial, CupsPrinter, LP or Win32Raw, a Network connection to anything
    but this machine, and a File printer on a device node under /dev."""

    def refuse(name: str) -> Any:
        def refused_new(cls: type, *args: Any, **kwargs: Any) -> Any:
            raise RealPrinterForbiddenError(
                f"tests must not open a real {name} printer (escpos.printer.{name})"
            )

        return staticmethod(refused_new)

    # __new__, not __init__: an instance whose __init__ failed still runs escpos's __del__,
    # and Usb.close() raises there when pyusb is missing.
    for name in ("Usb", "Serial", "CupsPrinter", "LP", "Win32Raw"):
        monkeypatch.setattr(getattr(escpos_printer, name), "__new__", refuse(name))

    # Both construction and open() are guarded: subclasses may replace open() (kiosk.printing
    # does, to close failed sockets) but still go through Network.__init__.
    network = escpos_printer.Network
    network_init, network_open = network.__init__, network.open

    def refuse_remote(host: Any, port: Any) -> None:
        if host not in LOCAL_HOSTS:
            raise RealPrinterForbiddenError(f"tests must not connect to a printer at {host}:{port}")

    def guarded_network_init(
        self: Any, host: str = "", port: int = 9100, *args: Any, **kwargs: Any
    ) -> None:
        refuse_remote(host, port)
        network_init(self, host, port, *args, **kwargs)

    def guarded_network_open(self: Any, *args: Any, **kwargs: Any) -> None:
        refuse_remote(self.host, self.port)
        network_open(self, *args, **kwargs)

    monkeypatch.setattr(network, "__init__", guarded_network_init)
    monkeypatch.setattr(network, "open", guarded_network_open)

    file_open = escpos_printer.File.open

    def guarded_file_open(self: Any, *args: Any, **kwargs: Any) -> None:
        if str(self.devfile).startswith("/dev/"):
            raise RealPrinterForbiddenError(f"tests must not write to the device {self.devfile}")
        file_open(self, *args, **kwargs)

    monkeypatch.setattr(escpos_printer.File, "open", guarded_file_open)
