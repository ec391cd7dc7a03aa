"""The printer port: config, escpos adapters against the fake network printer, mocks for USB,
serial and CUPS, the memory printer, and the guard against real printers."""

import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from escpos import printer as escpos_printer
from escpos.exceptions import DeviceNotFoundError
from PIL import Image

from kiosk import printing
from kiosk.printing import (
    CupsTicketPrinter,
    FilePrinter,
    MemoryPrinter,
    NetworkPrinter,
    NullPrinter,
    PrinterConfig,
    PrintError,
    PrinterStatus,
    SerialPrinter,
    UsbPrinter,
    open_printer,
    status_message,
)
from tests.fakes.escpos_printer import (
    STATUS_BYTES,
    EscPosStream,
    FakeEscposPrinter,
    RealPrinterForbiddenError,
    forbid_real_printers,
)

RASTER = b"\x1dv0"  # GS v 0
GRAPHICS = b"\x1d(L"  # GS ( L
COLUMN = b"\x1b*"  # ESC *
QR_2D = b"\x1d(k"  # GS ( k
CUT = b"\x1dV"  # GS V
URL = "https://khidmat.example.pk/t/9f3a2c7e"


def ticket_image(width: int = 576, height: int = 300) -> Image.Image:
    image = Image.new("1", (width, height), 1)
    for y in range(0, height, 7):  # some ink, including bytes like 0x10 0x04 in the raster
        image.paste(0, (y % width, y, min(width, y % width + 40), y + 3))
    return image


def network(fake: FakeEscposPrinter, **settings: Any) -> NetworkPrinter:
    config = PrinterConfig.from_dict(
        {"kind": "network", "host": "127.0.0.1", "port": fake.port, "timeout": 0.5, **settings}
    )
    printer = open_printer(config)
    assert isinstance(printer, NetworkPrinter)
    return printer


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [None, {}])
def test_no_settings_means_no_printer(settings: dict[str, Any] | None) -> None:
    config = PrinterConfig.from_dict(settings)
    assert config.kind == "none"
    assert isinstance(open_printer(config), NullPrinter)


def test_config_round_trips_and_coerces_text_values() -> None:
    config = PrinterConfig.from_dict(
        {
            "kind": "usb",
            "usb_vendor": "0x04b8",
            "usb_product": 0x0E15,
            "profile": "TM-T88V",
            "width": "512",
            "timeout": "1.5",
            "qr_native": "true",
            "image_impl": "graphics",
        }
    )
    assert config.usb_vendor == 0x04B8
    assert config.width == 512
    assert config.timeout == 1.5
    assert config.qr_native is True
    assert PrinterConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"kind": "bluetooth"}, "kind must be one of"),
        ({"host": "10.0.0.5"}, "kind is required"),
        ({"kind": "network", "prot": 9100}, "unknown printer setting"),
        ({"kind": "network", "port": 70000}, "port must be between"),
        ({"kind": "network", "port": True}, "port must be an integer"),
        ({"kind": "network", "timeout": 0}, "timeout"),
        ({"kind": "network", "timeout": "soon"}, "timeout"),
        ({"kind": "network", "host": ""}, "host"),
        ({"kind": "network", "width": 500}, "multiple of 8"),
        ({"kind": "network", "image_impl": "ascii"}, "image_impl"),
        ({"kind": "network", "qr_native": "maybe"}, "qr_native"),
        ({"kind": "network", "profile": "NoSuchPrinter"}, "unknown python-escpos printer profile"),
        ({"kind": "network", "profile": "TM-T88V", "width": 576}, "wider than profile"),
        ({"kind": "network", "profile": "POS-5890", "width": 384, "qr_native": True}, "native"),
        ({"kind": "usb", "usb_vendor": 0x04B8}, "usb_product"),
        ({"kind": "serial"}, "serial_device"),
        ({"kind": "file"}, "path"),
    ],
)
def test_bad_config_is_a_clear_value_error(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PrinterConfig.from_dict(settings)


@pytest.mark.parametrize(
    ("kind", "adapter"),
    [
        ("network", NetworkPrinter),
        ("usb", UsbPrinter),
        ("serial", SerialPrinter),
        ("cups", CupsTicketPrinter),
        ("file", FilePrinter),
        ("memory", MemoryPrinter),
        ("none", NullPrinter),
    ],
)
def test_open_printer_picks_the_adapter(kind: str, adapter: type) -> None:
    settings = {
        "kind": kind,
        "usb_vendor": 1,
        "usb_product": 2,
        "serial_device": "/dev/ttyS0",
        "path": "/tmp/ticket.bin",
    }
    printer = open_printer(PrinterConfig.from_dict(settings))
    assert isinstance(printer, adapter)
    assert printer.config.kind == kind


def test_every_status_has_an_english_and_urdu_message() -> None:
    for status in PrinterStatus:
        english, urdu = status_message(status)
        assert english and urdu
        assert re.search("[\u0600-\u06ff]", urdu), f"{status}: not translated: {urdu}"
        assert "—" not in urdu  # Noto Naskh has no em dash
    assert "scan the QR code" in status_message(PrinterStatus.PAPER_OUT)[0]
    assert "QR" in status_message(PrinterStatus.PAPER_OUT)[1]
    assert str(PrintError(PrinterStatus.COVER_OPEN)) == status_message(PrinterStatus.COVER_OPEN)[0]


# --- through python-escpos Network to the fake printer ------------------------------------------


def test_prints_raster_image_then_cuts(fake_printer: FakeEscposPrinter) -> None:
    printer = network(fake_printer)
    assert printer.check() == PrinterStatus.OK
    printer.print_ticket(ticket_image(), qr_data=URL)
    fake_printer.wait_for_connections(2)
    (job,) = fake_printer.printed
    assert job.startswith(b"\x1b@")  # ESC @ resets the printer first
    assert RASTER in job
    assert CUT in job
    assert job.index(RASTER) < job.rindex(CUT)
    assert QR_2D not in job  # the QR is inside the image unless qr_native
    commands = fake_printer.commands
    assert commands.index("GS v 0") > commands.index("DLE EOT 4")  # status checked first
    assert commands[-3:] == ["DLE EOT 1", "DLE EOT 2", "DLE EOT 4"]  # and confirmed after


def test_raster_data_is_the_ticket_bitmap(fake_printer: FakeEscposPrinter) -> None:
    image = ticket_image(576, 300)
    network(fake_printer).print_ticket(image)
    fake_printer.wait_for_connections(1)
    job = fake_printer.printed[0]
    start = job.index(RASTER)
    width_bytes = job[start + 4] + 256 * job[start + 5]
    height = job[start + 6] + 256 * job[start + 7]
    assert (width_bytes, height) == (72, 300)
    raster = job[start + 8 : start + 8 + width_bytes * height]
    inverted = Image.frombytes("1", (576, 300), raster)  # escpos sends ink as 1 bits
    assert inverted.convert("L").point(lambda v: 255 - v).tobytes() == image.convert("L").tobytes()


@pytest.mark.parametrize(
    ("impl", "marker", "command", "others"),
    [
        ("bitImageRaster", RASTER, "GS v 0", (GRAPHICS, COLUMN)),
        ("graphics", GRAPHICS, "GS ( L", (RASTER, COLUMN)),
        ("bitImageColumn", COLUMN, "ESC *", (RASTER, GRAPHICS)),
    ],
)
def test_image_mode_setting_picks_the_escpos_command(
    fake_printer: FakeEscposPrinter,
    impl: str,
    marker: bytes,
    command: str,
    others: tuple[bytes, ...],
) -> None:
    network(fake_printer, image_impl=impl).print_ticket(ticket_image(576, 1200))
    fake_printer.wait_for_connections(1)
    job = fake_printer.printed[0]
    assert marker in job
    assert command in fake_printer.commands
    assert CUT in job
    for other in others:
        assert other not in job


def test_graphics_fragments_fit_the_16_bit_length(fake_printer: FakeEscposPrinter) -> None:
    # 576 dots x 960 rows would be 69,120 bytes: more than GS ( L can announce.
    network(fake_printer, image_impl="graphics").print_ticket(ticket_image(576, 1900))
    fake_printer.wait_for_connections(1)
    job = fake_printer.printed[0]
    stream = EscPosStream()
    commands = stream.feed(job)
    stores = [raw for name, raw in commands if name == "GS ( L" and raw[6] == ord("p")]
    assert sum(raw[13] + 256 * raw[14] for raw in stores) == 1900  # rows across fragments
    assert commands[-1][0] == "GS V"  # the whole stream parsed: no length was wrong


def test_native_qr_after_the_image(fake_printer: FakeEscposPrinter) -> None:
    network(fake_printer, qr_native=True).print_ticket(ticket_image(), qr_data=URL)
    fake_printer.wait_for_connections(1)
    job = fake_printer.printed[0]
    assert job.index(RASTER) < job.index(QR_2D) < job.rindex(CUT)
    assert URL.encode() in job
    assert fake_printer.commands.count("GS ( k") == 5  # model, size, ec, store, print


def test_narrower_image_is_centred_on_the_paper(fake_printer: FakeEscposPrinter) -> None:
    network(fake_printer).print_ticket(ticket_image(384, 50))
    fake_printer.wait_for_connections(1)
    job = fake_printer.printed[0]
    start = job.index(RASTER)
    assert job[start + 4] == 72  # padded to 576 dots


def test_wider_image_is_refused(fake_printer: FakeEscposPrinter) -> None:
    with pytest.raises(ValueError, match="576"):
        network(fake_printer).print_ticket(ticket_image(640, 50))
    assert fake_printer.jobs == []


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        ("ok", PrinterStatus.OK),
        ("paper_low", PrinterStatus.PAPER_LOW),
        ("paper_out", PrinterStatus.PAPER_OUT),
        ("offline", PrinterStatus.OFFLINE),
        ("cover_open", PrinterStatus.COVER_OPEN),
        ("silent", PrinterStatus.TIMEOUT),
        ("closed", PrinterStatus.OFFLINE),
    ],
)
def test_check_reports_each_state(
    fake_printer: FakeEscposPrinter, mode: str, status: PrinterStatus
) -> None:
    fake_printer.mode = mode
    started = time.monotonic()
    assert network(fake_printer).check() == status
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        ("paper_out", PrinterStatus.PAPER_OUT),
        ("offline", PrinterStatus.OFFLINE),
        ("cover_open", PrinterStatus.COVER_OPEN),
        ("silent", PrinterStatus.TIMEOUT),
        ("closed", PrinterStatus.OFFLINE),
    ],
)
def test_faults_stop_printing(
    fake_printer: FakeEscposPrinter, mode: str, status: PrinterStatus
) -> None:
    fake_printer.mode = mode
    with pytest.raises(PrintError) as raised:
        network(fake_printer).print_ticket(ticket_image(), qr_data=URL)
    assert raised.value.status == status
    assert str(raised.value).startswith(status_message(status)[0])
    fake_printer.mode = "ok"  # let a "closed" printer accept again so its jobs can be read
    assert fake_printer.printed == []
    assert RASTER not in fake_printer.received


def test_paper_low_still_prints(fake_printer: FakeEscposPrinter) -> None:
    fake_printer.mode = "paper_low"
    printer = network(fake_printer)
    assert printer.check() == PrinterStatus.PAPER_LOW
    printer.print_ticket(ticket_image())
    fake_printer.wait_for_connections(2)
    assert len(fake_printer.printed) == 1


def test_printer_back_after_being_switched_off(fake_printer: FakeEscposPrinter) -> None:
    printer = network(fake_printer)
    fake_printer.mode = "closed"
    assert printer.check() == PrinterStatus.OFFLINE
    fake_printer.mode = "ok"
    printer.print_ticket(ticket_image())
    assert printer.check() == PrinterStatus.OK


def test_connection_lost_mid_ticket_is_a_print_error() -> None:
    with FakeEscposPrinter(hangup_after=2000) as fake:
        with pytest.raises(PrintError) as raised:
            network(fake).print_ticket(ticket_image(576, 1500))
        assert raised.value.status == PrinterStatus.OFFLINE
        assert "may be incomplete" in str(raised.value) or "printing failed" in str(raised.value)


def test_paper_running_out_during_the_job_is_reported() -> None:
    with FakeEscposPrinter(paper_out_after=5000) as fake:
        with pytest.raises(PrintError) as raised:
            network(fake).print_ticket(ticket_image(576, 1500))
        assert raised.value.status == PrinterStatus.PAPER_OUT
        assert "may be incomplete" in str(raised.value)
        fake.wait_for_connections(1)
        assert RASTER in fake.printed[0]  # it was sent: the roll ended under it


def test_concurrent_jobs_for_one_printer_do_not_interleave(
    fake_printer: FakeEscposPrinter,
) -> None:
    errors: list[BaseException] = []

    def print_one() -> None:
        try:
            network(fake_printer).print_ticket(ticket_image())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=print_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert errors == []
    fake_printer.wait_for_connections(4)
    assert len(fake_printer.printed) == 4
    assert len(set(fake_printer.printed)) == 1


# --- the fake printer itself -------------------------------------------------------------------


def test_fake_answers_queries_split_or_mixed_into_print_data() -> None:
    with FakeEscposPrinter("paper_low") as fake:
        with socket.create_connection(("127.0.0.1", fake.port), timeout=2) as sock:
            # a raster image whose data contains 10 04 01, then a real query split in two
            image = b"\x1dv0\x00\x03\x00\x01\x00" + b"\x10\x04\x01"
            sock.sendall(image + b"\x10")
            sock.sendall(b"\x04\x04" + b"\x10\x04\x01")
            assert _read_exactly(sock, 2) == bytes((STATUS_BYTES["paper_low"][4], 0x12))
        fake.wait_for_connections(1)
        assert fake.status_queries == [4, 1]
        assert fake.commands == ["GS v 0", "DLE EOT 4", "DLE EOT 1"]
        assert fake.jobs == [image + b"\x10\x04\x04\x10\x04\x01"]
        assert fake.received == fake.jobs[0]


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, "connection closed early"
        data += chunk
    return data


def test_fake_silent_reads_but_never_answers() -> None:
    with FakeEscposPrinter("silent") as fake:
        with socket.create_connection(("127.0.0.1", fake.port), timeout=0.3) as sock:
            sock.sendall(b"hello\x10\x04\x01")
            with pytest.raises(TimeoutError):
                sock.recv(1)
        fake.wait_for_connections(1)
        assert fake.received == b"hello\x10\x04\x01"


def test_fake_closed_refuses_and_reopens_on_the_same_port() -> None:
    with FakeEscposPrinter() as fake:
        port = fake.port
        fake.mode = "closed"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        fake.mode = "ok"
        assert fake.port == port
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_fake_stops_its_thread() -> None:
    fake = FakeEscposPrinter()
    with fake:
        socket.create_connection(("127.0.0.1", fake.port), timeout=1).close()
    assert not any(t.name == "fake-escpos" for t in threading.enumerate())
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", fake.port), timeout=1).close()


# --- USB and serial through mocks of the escpos classes ------------------------------------------


class _FakeUsbTimeoutError(OSError):
    """Stands in for usb.core.USBTimeoutError (pyusb is not installed)."""


_FakeUsbTimeoutError.__name__ = "USBTimeoutError"


def escpos_class_mock(answers: dict[int, bytes] | Exception) -> mock.MagicMock:
    """A mock escpos printer class whose instances answer DLE EOT n from ``answers``."""
    device = mock.MagicMock(name="device")
    device.profile.profile_data = {}

    def query_status(mode: bytes) -> bytes:
        if isinstance(answers, Exception):
            raise answers
        return answers[mode[2]]

    device.query_status.side_effect = query_status
    cls = mock.MagicMock(name="EscposClass", return_value=device)
    cls.is_usable.return_value = True
    return cls


def mode_answers(mode: str) -> dict[int, bytes]:
    return {n: bytes((value,)) for n, value in STATUS_BYTES[mode].items()}


USB = {"kind": "usb", "usb_vendor": 0x04B8, "usb_product": 0x0E15, "timeout": 0.5}
SERIAL = {"kind": "serial", "serial_device": "/dev/ttyUSB0", "baudrate": 19200, "timeout": 0.5}


@pytest.mark.parametrize(("class_name", "settings"), [("Usb", USB), ("Serial", SERIAL)])
@pytest.mark.parametrize(
    ("answers", "status"),
    [
        (mode_answers("ok"), PrinterStatus.OK),
        (mode_answers("paper_low"), PrinterStatus.PAPER_LOW),
        (mode_answers("paper_out"), PrinterStatus.PAPER_OUT),
        (mode_answers("offline"), PrinterStatus.OFFLINE),
        (mode_answers("cover_open"), PrinterStatus.COVER_OPEN),
        ({1: b"", 2: b"", 4: b""}, PrinterStatus.TIMEOUT),  # serial read timed out
        (_FakeUsbTimeoutError("timed out"), PrinterStatus.TIMEOUT),
        ({1: b"\xff", 2: b"\xff", 4: b"\xff"}, PrinterStatus.UNKNOWN),  # not ESC/POS
    ],
)
def test_usb_and_serial_status_mapping(
    monkeypatch: pytest.MonkeyPatch,
    class_name: str,
    settings: dict[str, Any],
    answers: dict[int, bytes] | Exception,
    status: PrinterStatus,
) -> None:
    cls = escpos_class_mock(answers)
    monkeypatch.setattr(escpos_printer, class_name, cls)
    printer = open_printer(PrinterConfig.from_dict(settings))
    assert printer.check() == status
    device = cls.return_value
    device.open.assert_called_once_with()
    device.close.assert_called_once_with()


def test_usb_is_built_from_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    cls = escpos_class_mock(mode_answers("ok"))
    monkeypatch.setattr(escpos_printer, "Usb", cls)
    printer = open_printer(PrinterConfig.from_dict({**USB, "profile": "TM-T20II"}))
    printer.print_ticket(ticket_image(), qr_data=URL)
    cls.assert_called_once_with(0x04B8, 0x0E15, timeout=500, profile="TM-T20II")
    device = cls.return_value
    device.image.assert_called_once()
    assert device.image.call_args.kwargs["impl"] == "bitImageRaster"
    device.cut.assert_called_once_with()
    device.qr.assert_not_called()


def test_serial_is_built_from_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    cls = escpos_class_mock(mode_answers("ok"))
    monkeypatch.setattr(escpos_printer, "Serial", cls)
    printer = open_printer(PrinterConfig.from_dict({**SERIAL, "qr_native": True}))
    printer.print_ticket(ticket_image(), qr_data=URL)
    cls.assert_called_once_with(devfile="/dev/ttyUSB0", baudrate=19200, timeout=0.5, profile=None)
    device = cls.return_value
    assert device.qr.call_args.args == (URL,)
    assert device.qr.call_args.kwargs["native"] is True


@pytest.mark.parametrize(("class_name", "settings"), [("Usb", USB), ("Serial", SERIAL)])
def test_usb_and_serial_unplugged_or_missing_library(
    monkeypatch: pytest.MonkeyPatch, class_name: str, settings: dict[str, Any]
) -> None:
    cls = escpos_class_mock(mode_answers("ok"))
    cls.return_value.open.side_effect = DeviceNotFoundError("not plugged in")
    monkeypatch.setattr(escpos_printer, class_name, cls)
    printer = open_printer(PrinterConfig.from_dict(settings))
    assert printer.check() == PrinterStatus.OFFLINE
    with pytest.raises(PrintError) as raised:
        printer.print_ticket(ticket_image())
    assert raised.value.status == PrinterStatus.OFFLINE

    cls.is_usable.return_value = False
    with pytest.raises(PrintError, match="needs the py"):
        printer.print_ticket(ticket_image())


def test_usb_write_failure_mid_job(monkeypatch: pytest.MonkeyPatch) -> None:
    cls = escpos_class_mock(mode_answers("ok"))
    cls.return_value.image.side_effect = _FakeUsbTimeoutError("write timed out")
    monkeypatch.setattr(escpos_printer, "Usb", cls)
    with pytest.raises(PrintError) as raised:
        open_printer(PrinterConfig.from_dict(USB)).print_ticket(ticket_image())
    assert raised.value.status == PrinterStatus.TIMEOUT
    cls.return_value.cut.assert_not_called()


# --- CUPS, file, memory, none -------------------------------------------------------------------


def test_cups_prints_without_status(monkeypatch: pytest.MonkeyPatch) -> None:
    cls = escpos_class_mock(mode_answers("ok"))
    monkeypatch.setattr(escpos_printer, "CupsPrinter", cls)
    printer = open_printer(PrinterConfig.from_dict({"kind": "cups", "cups_name": "TM-T20"}))
    assert printer.check() == PrinterStatus.UNKNOWN
    cls.assert_not_called()  # nothing to ask
    printer.print_ticket(ticket_image())
    cls.assert_called_once_with(printer_name="TM-T20", profile=None)
    device = cls.return_value
    device.query_status.assert_not_called()
    device.close.assert_called_once_with()  # CUPS sends the job on close

    device.close.side_effect = RuntimeError("client-error-not-found")
    with pytest.raises(PrintError, match="failed to finish"):
        printer.print_ticket(ticket_image())

    device.close.side_effect = None
    device.image.side_effect = ValueError("cannot encode")
    device.pending_job = True
    with pytest.raises(PrintError, match="printing failed"):
        printer.print_ticket(ticket_image())
    assert device.pending_job is False  # the half job is dropped, not sent on close


def test_file_printer_writes_escpos(tmp_path: Path) -> None:
    target = tmp_path / "ticket.bin"
    printer = open_printer(PrinterConfig.from_dict({"kind": "file", "path": str(target)}))
    assert printer.check() == PrinterStatus.UNKNOWN
    printer.print_ticket(ticket_image())
    data = target.read_bytes()
    assert RASTER in data
    assert CUT in data

    missing = PrinterConfig.from_dict({"kind": "file", "path": str(tmp_path / "no" / "t.bin")})
    with pytest.raises(PrintError) as raised:
        open_printer(missing).print_ticket(ticket_image())
    assert raised.value.status == PrinterStatus.OFFLINE


def test_memory_printer_records_jobs_and_fails_on_demand() -> None:
    printer = MemoryPrinter()
    assert printer.check() == PrinterStatus.UNKNOWN
    printer.print_ticket(ticket_image(), qr_data=URL)
    assert len(printer.jobs) == 1
    assert RASTER in printer.jobs[0]
    assert CUT in printer.jobs[0]
    assert printer.images[0].size == (576, 300)

    printer.fail_with(PrinterStatus.PAPER_OUT)
    assert printer.check() == PrinterStatus.PAPER_OUT
    with pytest.raises(PrintError) as raised:
        printer.print_ticket(ticket_image())
    assert raised.value.status == PrinterStatus.PAPER_OUT
    assert len(printer.jobs) == 1

    printer.fail_with(PrinterStatus.COVER_OPEN, mid_print=True)
    with pytest.raises(PrintError) as raised:
        printer.print_ticket(ticket_image())
    assert raised.value.status == PrinterStatus.COVER_OPEN
    assert len(printer.jobs) == 2
    assert RASTER in printer.jobs[1]
    assert CUT not in printer.jobs[1]

    printer.fail_with(None)
    printer.status = PrinterStatus.PAPER_LOW
    printer.print_ticket(ticket_image())
    assert len(printer.jobs) == 3
    assert printer.output == b"".join(printer.jobs)


def test_memory_printer_native_qr() -> None:
    printer = MemoryPrinter(PrinterConfig(kind="memory", qr_native=True))
    printer.print_ticket(ticket_image(), qr_data=URL)
    assert QR_2D in printer.jobs[0]


def test_no_printer_configured() -> None:
    printer = open_printer(PrinterConfig.from_dict(None))
    assert printer.check() == PrinterStatus.OFFLINE
    with pytest.raises(PrintError, match="no ticket printer is configured") as raised:
        printer.print_ticket(ticket_image())
    assert raised.value.status == PrinterStatus.OFFLINE


# --- no real printers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "construct",
    [
        lambda: escpos_printer.Usb(0x04B8, 0x0E15),
        lambda: escpos_printer.Serial("/dev/ttyS0"),
        lambda: escpos_printer.CupsPrinter("TM-T20"),
        lambda: escpos_printer.LP("TM-T20"),
        lambda: escpos_printer.Network("192.168.1.50"),
        lambda: escpos_printer.File("/dev/usb/lp0").open(),
    ],
)
def test_real_printers_are_impossible(construct: Callable[[], Any]) -> None:
    with pytest.raises(RealPrinterForbiddenError):
        construct()


def test_adapters_cannot_swallow_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_real_printers(monkeypatch)  # also what the root conftest does; stacking is fine
    remote = PrinterConfig.from_dict({"kind": "network", "host": "192.168.1.50"})
    with pytest.raises(RealPrinterForbiddenError):
        open_printer(remote).check()
    # as if pyusb were installed, so the adapter gets as far as building the printer
    monkeypatch.setattr(escpos_printer.Usb, "is_usable", staticmethod(lambda: True))
    with pytest.raises(RealPrinterForbiddenError):
        open_printer(PrinterConfig.from_dict(USB)).print_ticket(ticket_image())


def test_local_network_and_files_stay_allowed(
    fake_printer: FakeEscposPrinter, tmp_path: Path
) -> None:
    direct = escpos_printer.Network("127.0.0.1", port=fake_printer.port, timeout=0.5)
    direct.open()
    direct.close()
    sink = escpos_printer.File(str(tmp_path / "out.bin"))
    sink.open()
    sink.close()
    assert printing.can_print(PrinterStatus.PAPER_LOW)
    assert not printing.can_print(PrinterStatus.TIMEOUT)
