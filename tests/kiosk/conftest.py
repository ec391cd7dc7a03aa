"""Fixtures for the kiosk tests: no real printer, and a fake network printer on demand."""

from collections.abc import Iterator

import pytest

from tests.fakes.escpos_printer import FakeEscposPrinter, forbid_real_printers


@pytest.fixture(autouse=True)
def _no_real_printers(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_real_printers(monkeypatch)


@pytest.fixture
def fake_printer() -> Iterator[FakeEscposPrinter]:
    with FakeEscposPrinter() as printer:
        yield printer
