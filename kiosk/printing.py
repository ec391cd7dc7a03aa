"""The ticket printer port and its python-escpos adapters.

The kiosk talks to a :class:`TicketPrinter`: ``check()`` before issuing a token, then
``print_ticket()`` with an already rendered image (:mod:`kiosk.ticket`) after the token is
committed. Every adapter opens and closes its connection per call, so a printer that was
switched off and on again just works on the next ticket.

Status comes from the ESC/POS real-time queries (``DLE EOT n``) on connections that can
answer (network, USB, serial). They are decoded here rather than with escpos's
``is_online()``/``paper_status()`` because those treat "no answer" as "offline" and "plenty of
paper" respectively, and a kiosk must tell a silent printer from a healthy one.

Size: every printer kind (network, USB, file) and the decoding of its status, behind one
interface.
"""

from __future__ import annotations

import copy
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from typing import Any, Protocol

from escpos import printer as escpos_printer
from escpos.capabilities import get_profile
from escpos.constants import QR_ECLEVEL_M, RT_STATUS
from escpos.escpos import Escpos
from escpos.exceptions import DeviceNotFoundError
from PIL import Image

from queue_server.errors import N_
from queue_server.i18n import both
from queue_server.states import PRINTER_FAULTS, PrinterStatus

#: Statuses that stop a ticket from being sent. PAPER_LOW still prints; UNKNOWN is what file,
#: CUPS and memory printers always report, and they print.
BLOCKING_STATUSES = PRINTER_FAULTS

# English message ids of the Babel catalogue (kiosk/translations); ``status_message`` gives
# both languages.
_ON_SCREEN = N_("Your token is shown on the screen. Please photograph it or scan the QR code.")
_STATUS_TEXT: dict[PrinterStatus, str] = {
    PrinterStatus.OK: N_("The printer is ready."),
    PrinterStatus.PAPER_LOW: N_("The printer is running low on paper. Please tell the staff."),
    PrinterStatus.PAPER_OUT: N_("The printer is out of paper."),
    PrinterStatus.OFFLINE: N_("The ticket printer is not available."),
    PrinterStatus.COVER_OPEN: N_("The printer cover is open."),
    PrinterStatus.TIMEOUT: N_("The printer is not responding."),
    PrinterStatus.UNKNOWN: N_("The ticket could not be printed."),
}
_TOKEN_ON_SCREEN = frozenset(_STATUS_TEXT) - {PrinterStatus.OK, PrinterStatus.PAPER_LOW}


def status_message(status: PrinterStatus) -> tuple[str, str]:
    """(English, Urdu) text for the kiosk screen: what the printer's status means, and where
    the token is when no ticket came out."""
    english, urdu = both(_STATUS_TEXT[status])
    if status in _TOKEN_ON_SCREEN:
        more_en, more_ur = both(_ON_SCREEN)
        english, urdu = f"{english} {more_en}", f"{urdu} {more_ur}"
    return english, urdu


def can_print(status: PrinterStatus) -> bool:
    """Whether a ticket may be sent to a printer reporting ``status``."""
    return status not in BLOCKING_STATUSES


class PrintError(Exception):
    """A ticket was not printed (or may be incomplete); ``status`` says why.

    The message is the English screen text for the status followed by the technical
    ``detail`` in parentheses, e.g. "The printer cover is open. ... (not printed: cover open)".
    """

    def __init__(self, status: PrinterStatus, detail: str | None = None) -> None:
        self.status = status
        self.detail = detail
        message = status_message(status)[0]
        super().__init__(f"{message} ({detail})" if detail else message)


# --- configuration -------------------------------------------------------------------------

PRINTER_KINDS: frozenset[str] = frozenset({"network", "usb", "serial", "cups", "file", "memory", "none"})
IMAGE_IMPLS: frozenset[str] = frozenset({"bitImageRaster", "graphics", "bitImageColumn"})


def _as_int(name: str, value: Any, *, lo: int, hi: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"printer {name} must be an integer, got {value!r}")
    if isinstance(value, str):
        try:
            value = int(value.strip(), 0)  # accepts "9100" and USB ids like "0x04b8"
        except ValueError:
            raise ValueError(f"printer {name} must be an integer, got {value!r}") from None
    if not isinstance(value, int):
        raise ValueError(f"printer {name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"printer {name} must be between {lo} and {hi}, got {value}")
    return value


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text in {"true", "1", "yes"}:
        return True
    if text in {"false", "0", "no"}:
        return False
    raise ValueError(f"printer {name} must be true or false, got {value!r}")


def _as_text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"printer {name} must be a non-empty string, got {value!r}")
    return value.strip()


def _profile_data(name: str) -> dict[str, Any]:
    try:
        return dict(get_profile(name).profile_data)
    except KeyError:
        raise ValueError(f"unknown python-escpos printer profile {name!r}") from None


def _profile_width(name: str) -> int | None:
    pixels = _profile_data(name).get("media", {}).get("width", {}).get("pixels")
    return pixels if isinstance(pixels, int) else None


@dataclass(frozen=True)
class PrinterConfig:
    """Where the kiosk's ticket printer is and how to drive it."""

    kind: str
    host: str = "127.0.0.1"
    port: int = 9100
    timeout: float = 3.0
    usb_vendor: int | None = None
    usb_product: int | None = None
    serial_device: str | None = None
    baudrate: int = 9600
    cups_name: str | None = None
    path: str | None = None
    profile: str | None = None
    width: int = 576
    image_impl: str = "bitImageRaster"
    qr_native: bool = False

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> PrinterConfig:
        """Build and validate a config from settings; ``None`` or ``{}`` means no printer.

        Raises ValueError naming the offending key for unknown keys, a missing kind, values
        of the wrong type or range, a kind without its connection details, an unknown
        escpos profile, or a width or QR mode the profile cannot do.
        """
        if not d:
            return cls(kind="none")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(
                f"unknown printer setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        if "kind" not in d:
            raise ValueError(f"printer kind is required (one of {sorted(PRINTER_KINDS)})")
        kind = d["kind"]
        if kind not in PRINTER_KINDS:
            raise ValueError(f"printer kind must be one of {sorted(PRINTER_KINDS)}, got {kind!r}")

        values: dict[str, Any] = {"kind": kind}
        if "host" in d:
            values["host"] = _as_text("host", d["host"])
        if "port" in d:
            values["port"] = _as_int("port", d["port"], lo=1, hi=65535)
        if "timeout" in d:
            timeout = d["timeout"]
            if isinstance(timeout, bool) or not isinstance(timeout, int | float | str):
                raise ValueError(f"printer timeout must be a number of seconds, got {timeout!r}")
            try:
                seconds = float(timeout)
            except ValueError:
                raise ValueError(f"printer timeout must be a number of seconds, got {timeout!r}") from None
            if not 0 < seconds <= 60:
                raise ValueError(f"printer timeout must be in (0, 60] seconds, got {seconds}")
            values["timeout"] = seconds
        for key in ("usb_vendor", "usb_product"):
            if d.get(key) is not None:
                values[key] = _as_int(key, d[key], lo=0, hi=0xFFFF)
        if "baudrate" in d:
            values["baudrate"] = _as_int("baudrate", d["baudrate"], lo=300, hi=921600)
        for key in ("serial_device", "cups_name", "path", "profile"):
            if d.get(key) is not None:
                values[key] = _as_text(key, d[key])
        if "width" in d:
            width = _as_int("width", d["width"], lo=200, hi=2048)
            if width % 8:
                raise ValueError(f"printer width must be a multiple of 8 dots, got {width}")
            values["width"] = width
        if "image_impl" in d:
            if d["image_impl"] not in IMAGE_IMPLS:
                raise ValueError(
                    f"printer image_impl must be one of {sorted(IMAGE_IMPLS)}, got {d['image_impl']!r}"
                )
            values["image_impl"] = d["image_impl"]
        if "qr_native" in d:
            values["qr_native"] = _as_bool("qr_native", d["qr_native"])

        config = cls(**values)
        config._check_consistency()
        return config

    def _check_consistency(self) -> None:
        required = {
            "usb": ("usb_vendor", "usb_product"),
            "serial": ("serial_device",),
            "file": ("path",),
        }
        for key in required.get(self.kind, ()):
            if getattr(self, key) is None:
                raise ValueError(f"a {self.kind} printer needs {key}")
        if self.profile is None:
            return
        max_width = _profile_width(self.profile)
        if max_width is not None and self.width > max_width:
            raise ValueError(
                f"printer width {self.width} is wider than profile {self.profile}'s {max_width} dots"
            )
        features = _profile_data(self.profile).get("features", {})
        if self.qr_native and features.get("qrCode") is False:
            raise ValueError(f"profile {self.profile} cannot print native QR codes; set qr_native false")

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain values; ``from_dict(c.to_dict()) == c``."""
        return asdict(self)


# --- the port -------------------------------------------------------------------------------


class TicketPrinter(Protocol):
    config: PrinterConfig

    def check(self) -> PrinterStatus:
        """The printer's state now; UNKNOWN where the connection cannot tell."""
        ...

    def print_ticket(self, image: Image.Image, qr_data: str | None = None) -> None:
        """Print ``image`` (and ``qr_data`` as a native QR code when the config says so),
        then cut. Raises PrintError; never prints when the printer reports a fault."""
        ...


def open_printer(config: PrinterConfig) -> TicketPrinter:
    """The adapter for ``config.kind``. Nothing is opened until check() or print_ticket()."""
    factories: dict[str, Callable[[PrinterConfig], TicketPrinter]] = {
        "network": NetworkPrinter,
        "usb": UsbPrinter,
        "serial": SerialPrinter,
        "cups": CupsTicketPrinter,
        "file": FilePrinter,
        "memory": MemoryPrinter,
        "none": NullPrinter,
    }
    try:
        factory = factories[config.kind]
    except KeyError:
        raise ValueError(f"unknown printer kind {config.kind!r}") from None
    return factory(config)


# --- ESC/POS real-time status ----------------------------------------------------------------

# DLE EOT n answers: bits 1 and 4 are always set, bits 0 and 7 always clear.
_FIXED_MASK, _FIXED_BITS = 0x93, 0x12
_OFFLINE = 0x08  # n=1: printer is offline
_COVER_OPEN = 0x04  # n=2: cover is open
_STOPPED_PAPER_END = 0x20  # n=2: printing stopped because the paper ran out
_NEAR_END = 0x0C  # n=4: paper roll near-end sensor
_PAPER_END = 0x60  # n=4: paper roll end sensor


class _NoAnswerError(Exception):
    def __init__(self, status: PrinterStatus, detail: str) -> None:
        self.status = status
        super().__init__(detail)


def _status_of(exc: BaseException) -> PrinterStatus:
    """Map a transport exception (socket, pyusb, pyserial, escpos) to a status."""
    if isinstance(exc, TimeoutError) or "timeout" in type(exc).__name__.lower():
        return PrinterStatus.TIMEOUT
    if isinstance(exc, DeviceNotFoundError | OSError):
        return PrinterStatus.OFFLINE
    return PrinterStatus.UNKNOWN


@lru_cache(maxsize=32)
def _profile_for(name: str | None, width: int) -> dict[str, Any]:
    # A private copy with the paper width filled in: escpos's default profile has no width,
    # so it prints a warning on every image and cannot centre anything.
    data: dict[str, Any] = copy.deepcopy(get_profile(name).profile_data)
    pixels = data.setdefault("media", {}).setdefault("width", {})
    if not isinstance(pixels.get("pixels"), int):
        pixels["pixels"] = width
    return data


_DEVICE_LOCKS: dict[tuple[Any, ...], threading.Lock] = {}
_DEVICE_LOCKS_GUARD = threading.Lock()


def _device_lock(key: tuple[Any, ...]) -> threading.Lock:
    # One job at a time per physical printer, even through separate adapter objects.
    with _DEVICE_LOCKS_GUARD:
        return _DEVICE_LOCKS.setdefault(key, threading.Lock())


def _graphics_fragment_height(width: int) -> int:
    # GS ( L carries a 16-bit length; escpos's 960-row fragments overflow it at 576 dots
    # (and escpos does not notice), so keep each fragment under 65535 bytes.
    return min(960, (65535 - 16) // ((width + 7) // 8))


class _EscposTicketPrinter:
    """Shared flow for adapters built on an escpos printer class."""

    #: Whether DLE EOT queries get answers on this connection.
    answers_status: bool = True
    #: What an empty read means: timeout for USB/serial, connection closed for network.
    empty_answer_status: PrinterStatus = PrinterStatus.TIMEOUT

    def __init__(self, config: PrinterConfig) -> None:
        self.config = config

    # adapters supply these
    def _device(self) -> Escpos:
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    def _lock_key(self) -> tuple[Any, ...]:
        return (self.config.kind, self._describe())

    # connection
    def _open(self) -> Escpos:
        try:
            device = self._device()
            device.profile.profile_data = _profile_for(self.config.profile, self.config.width)
            device.open()
        except PrintError:
            raise
        except Exception as exc:  # whatever the transport raises, the kiosk must carry on
            raise PrintError(
                PrinterStatus.OFFLINE,
                f"cannot connect to the printer at {self._describe()}: {exc}",
            ) from exc
        return device

    def _close(self, device: Escpos, *, raise_errors: bool) -> None:
        try:
            device.close()
        except Exception as exc:
            if raise_errors:
                raise PrintError(
                    _status_of(exc), f"printer at {self._describe()} failed to finish: {exc}"
                ) from exc

    # status
    def _query(self, device: Escpos, n: int) -> int:
        try:
            answer = device.query_status(RT_STATUS + bytes((n,)))
        except Exception as exc:
            raise _NoAnswerError(_status_of(exc), f"DLE EOT {n}: {exc}") from exc
        if not answer:
            raise _NoAnswerError(self.empty_answer_status, f"DLE EOT {n}: no answer")
        value = int(answer[-1])  # a stale answer may precede this one; the newest is last
        if value & _FIXED_MASK != _FIXED_BITS:
            raise _NoAnswerError(PrinterStatus.UNKNOWN, f"DLE EOT {n}: {value:#04x} is not an ESC/POS status")
        return value

    def _status(self, device: Escpos) -> tuple[PrinterStatus, str]:
        try:
            printer = self._query(device, 1)
            offline_cause = self._query(device, 2)
            paper = self._query(device, 4)
        except _NoAnswerError as exc:
            return exc.status, str(exc)
        if offline_cause & _COVER_OPEN:
            return PrinterStatus.COVER_OPEN, "cover open"
        if paper & _PAPER_END or offline_cause & _STOPPED_PAPER_END:
            return PrinterStatus.PAPER_OUT, "paper end"
        if printer & _OFFLINE:
            return PrinterStatus.OFFLINE, "printer reports offline"
        if paper & _NEAR_END:
            return PrinterStatus.PAPER_LOW, "paper near end"
        return PrinterStatus.OK, "ok"

    def check(self) -> PrinterStatus:
        if not self.answers_status:
            return PrinterStatus.UNKNOWN
        with _device_lock(self._lock_key()):
            try:
                device = self._open()
            except PrintError as exc:
                return exc.status
            try:
                return self._status(device)[0]
            finally:
                self._close(device, raise_errors=False)

    # printing
    def _send(self, device: Escpos, image: Image.Image, qr_data: str | None) -> None:
        width = self.config.width
        if image.width < width:  # centre on the paper ourselves: escpos loses it on tall images
            padded = Image.new("1", (width, image.height), 1)
            padded.paste(image.convert("1"), ((width - image.width) // 2, 0))
            image = padded
        impl = self.config.image_impl
        fragment = _graphics_fragment_height(width) if impl == "graphics" else 960
        device.hw("INIT")
        device.image(image, impl=impl, fragment_height=fragment)
        if self.config.qr_native and qr_data:
            device.set(align="center")
            device.qr(qr_data, ec=QR_ECLEVEL_M, size=max(3, min(8, width // 96)), native=True)
            device.set(align="left")
        device.cut()

    def print_ticket(self, image: Image.Image, qr_data: str | None = None) -> None:
        if image.width > self.config.width:
            raise ValueError(
                f"ticket image is {image.width} dots wide; this printer takes {self.config.width}"
            )
        with _device_lock(self._lock_key()):
            device = self._open()
            finished = False
            try:
                if self.answers_status:
                    status, detail = self._status(device)
                    if not can_print(status):
                        raise PrintError(status, f"not printed: {detail}")
                try:
                    self._send(device, image, qr_data)
                except PrintError:
                    raise
                except Exception as exc:
                    status = _status_of(exc)
                    raise PrintError(status, f"printing failed: {exc}") from exc
                if self.answers_status:
                    # The answer arrives after the printer has taken the whole job, so a
                    # dropped connection or paper running out mid-ticket shows up here.
                    status, detail = self._status(device)
                    if not can_print(status):
                        raise PrintError(status, f"ticket may be incomplete: {detail}")
                finished = True
            finally:
                self._close(device, raise_errors=finished)


class _Network(escpos_printer.Network):  # type: ignore[misc]
    """escpos ``Network`` whose open() closes the socket when the connection fails.

    escpos 3.1 drops that socket unclosed (a ResourceWarning when it is collected).
    """

    def open(self, raise_not_found: bool = True) -> None:
        if self._device:
            self.close()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            self.device = None
            raise DeviceNotFoundError(f"could not connect to {self.host}:{self.port}: {exc}") from exc
        self.device = sock


class NetworkPrinter(_EscposTicketPrinter):
    """A printer on TCP port 9100 (escpos ``Network``)."""

    empty_answer_status = PrinterStatus.OFFLINE  # the printer closed the connection

    def _device(self) -> Escpos:
        c = self.config
        return _Network(c.host, port=c.port, timeout=c.timeout, profile=c.profile)

    def _describe(self) -> str:
        return f"{self.config.host}:{self.config.port}"


class UsbPrinter(_EscposTicketPrinter):
    """A USB printer (escpos ``Usb``, needs pyusb)."""

    def _device(self) -> Escpos:
        cls = escpos_printer.Usb
        if not cls.is_usable():
            raise PrintError(PrinterStatus.OFFLINE, "USB printing needs the pyusb package")
        c = self.config
        # pyusb counts its timeout in milliseconds
        return cls(c.usb_vendor, c.usb_product, timeout=int(c.timeout * 1000), profile=c.profile)

    def _describe(self) -> str:
        return f"usb {self.config.usb_vendor or 0:04x}:{self.config.usb_product or 0:04x}"


class SerialPrinter(_EscposTicketPrinter):
    """A serial printer (escpos ``Serial``, needs pyserial)."""

    def _device(self) -> Escpos:
        cls = escpos_printer.Serial
        if not cls.is_usable():
            raise PrintError(PrinterStatus.OFFLINE, "serial printing needs the pyserial package")
        c = self.config
        return cls(devfile=c.serial_device, baudrate=c.baudrate, timeout=c.timeout, profile=c.profile)

    def _describe(self) -> str:
        return f"serial {self.config.serial_device}"


class CupsTicketPrinter(_EscposTicketPrinter):
    """A CUPS queue in raw mode (escpos ``CupsPrinter``, needs pycups). The job is handed to
    CUPS on close; CUPS cannot report paper or cover state, so check() says UNKNOWN."""

    answers_status = False

    def _device(self) -> Escpos:
        cls = escpos_printer.CupsPrinter
        if not cls.is_usable():
            raise PrintError(PrinterStatus.OFFLINE, "CUPS printing needs the pycups package")
        return cls(printer_name=self.config.cups_name or "", profile=self.config.profile)

    def _describe(self) -> str:
        return f"cups {self.config.cups_name or '(default printer)'}"

    def _close(self, device: Escpos, *, raise_errors: bool) -> None:
        if not raise_errors:  # the job failed: do not hand a half ticket to CUPS on close
            device.pending_job = False
        super()._close(device, raise_errors=raise_errors)


class FilePrinter(_EscposTicketPrinter):
    """Writes each job to ``config.path`` (a device node such as /dev/usb/lp0, or a file).
    A file cannot report status, so check() says UNKNOWN."""

    answers_status = False

    def _device(self) -> Escpos:
        return escpos_printer.File(devfile=self.config.path or "", profile=self.config.profile)

    def _describe(self) -> str:
        return f"file {self.config.path}"


class NullPrinter:
    """No printer configured: tokens are shown on screen only."""

    def __init__(self, config: PrinterConfig | None = None) -> None:
        self.config = config or PrinterConfig(kind="none")

    def check(self) -> PrinterStatus:
        return PrinterStatus.OFFLINE

    def print_ticket(self, image: Image.Image, qr_data: str | None = None) -> None:
        raise PrintError(PrinterStatus.OFFLINE, "no ticket printer is configured for this kiosk")


class MemoryPrinter(_EscposTicketPrinter):
    """Keeps the ESC/POS bytes of every job in memory (escpos ``Dummy``), for tests and demos.

    ``status`` is what check() reports (UNKNOWN by default, like other printers that cannot
    tell); :meth:`fail_with` makes the next jobs fail with a status, before any byte is
    recorded or, with ``mid_print=True``, after the image was recorded but before the cut.
    """

    answers_status = False

    def __init__(
        self, config: PrinterConfig | None = None, status: PrinterStatus = PrinterStatus.UNKNOWN
    ) -> None:
        super().__init__(config or PrinterConfig(kind="memory"))
        self.status = status
        self.mid_print_failure: PrinterStatus | None = None
        self.jobs: list[bytes] = []
        self.images: list[Image.Image] = []
        self._dummy = escpos_printer.Dummy()

    def fail_with(self, status: PrinterStatus | None, *, mid_print: bool = False) -> None:
        """Fail following jobs with ``status``; ``None`` restores normal printing."""
        if mid_print:
            self.mid_print_failure = status
            self.status = PrinterStatus.UNKNOWN
        else:
            self.mid_print_failure = None
            self.status = status if status is not None else PrinterStatus.UNKNOWN

    @property
    def output(self) -> bytes:
        """Everything sent so far, all jobs (including a partial one) concatenated."""
        return b"".join(self.jobs)

    def _device(self) -> Escpos:
        self._dummy.clear()
        return self._dummy

    def _describe(self) -> str:
        return f"memory {id(self):x}"

    def check(self) -> PrinterStatus:
        return self.status

    def _send(self, device: Escpos, image: Image.Image, qr_data: str | None) -> None:
        if self.mid_print_failure is not None:
            device.image(image, impl=self.config.image_impl)
            raise PrintError(self.mid_print_failure, "simulated failure in the middle of a job")
        super()._send(device, image, qr_data)

    def print_ticket(self, image: Image.Image, qr_data: str | None = None) -> None:
        if not can_print(self.status):
            raise PrintError(self.status, "not printed")
        try:
            super().print_ticket(image, qr_data)
        finally:
            output = self._dummy.output
            if output:
                self.jobs.append(output)
                self.images.append(image.copy())
            self._dummy.clear()
