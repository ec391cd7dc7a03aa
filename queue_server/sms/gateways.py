"""The ways an SMS part leaves the server: an SMPP connection to an SMSC (``smpplib``).

A gateway submits one part at a time and answers with the SMSC's message id only once the
SMSC acknowledged it (``submit_sm_resp``), so the caller knows exactly which parts left: a
part that was not acknowledged is sent again later, one that was is never sent twice.
Delivery receipts (``deliver_sm`` with a receipted message id) are collected as they
arrive and handed over by ``receipts``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import select
import socket
import threading
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from smpplib import consts, smpp
from smpplib import exceptions as smpp_errors
from smpplib.client import Client

log = logging.getLogger(__name__)

TON_INTERNATIONAL, TON_ALPHANUMERIC, NPI_ISDN = 1, 5, 1
_RECEIPT_ID = re.compile(rb"id:(\S+)")
_RECEIPT_STAT = re.compile(rb"stat:(\w+)")


class GatewayDown(Exception):
    """The gateway could not be reached or the link dropped: try again later."""


class GatewayRefused(Exception):
    """The SMSC answered with an error status for this part."""


@dataclass(frozen=True)
class Receipt:
    message_id: str
    status: str  # DELIVRD, UNDELIV, EXPIRED, REJECTD, ...

    @property
    def is_delivered(self) -> bool:
        return self.status == "DELIVRD"


class SmsGateway(Protocol):
    def submit(self, phone: str, part: bytes, *, data_coding: int, esm_class: int) -> str: ...

    def receipts(self) -> list[Receipt]: ...

    def close(self) -> None: ...


class SmppGateway:
    """One transceiver bind, opened on first use and again after a drop. Thread-safe."""

    def __init__(
        self, host: str, port: int, system_id: str, password: str, source: str, timeout: float = 5.0
    ) -> None:
        self.host, self.port = host, port
        self.system_id, self.password, self.source = system_id, password, source
        self.timeout = timeout
        self._client: Client | None = None
        self._lock = threading.Lock()
        self._receipts: list[Receipt] = []

    @classmethod
    def from_url(cls, url: str, source: str, timeout: float = 5.0) -> SmppGateway:
        """``smpp://system_id:password@host:port``."""
        parts = urlsplit(url)
        if parts.scheme != "smpp" or not parts.hostname:
            raise ValueError(f"not an smpp:// URL: {url!r}")
        return cls(
            parts.hostname,
            parts.port or 2775,
            unquote(parts.username or ""),
            unquote(parts.password or ""),
            source,
            timeout,
        )

    def _bound(self) -> Client:
        if self._client is None:
            client = Client(self.host, self.port, timeout=self.timeout, allow_unknown_opt_params=True)
            try:
                client.connect()
                client.bind_transceiver(system_id=self.system_id, password=self.password)
            except (OSError, smpp_errors.ConnectionError, smpp_errors.PDUError) as exc:
                self._close(client)
                raise GatewayDown(f"SMSC {self.host}:{self.port} unreachable: {exc}") from exc
            self._client = client
        return self._client

    def submit(self, phone: str, part: bytes, *, data_coding: int, esm_class: int) -> str:
        with self._lock:
            client = self._bound()
            try:
                sent = client.send_message(
                    source_addr_ton=TON_ALPHANUMERIC,
                    source_addr=self.source,
                    dest_addr_ton=TON_INTERNATIONAL,
                    dest_addr_npi=NPI_ISDN,
                    destination_addr=phone.lstrip("+"),
                    short_message=part,
                    data_coding=data_coding,
                    esm_class=esm_class,
                    registered_delivery=1,
                )
                while True:
                    pdu = client.read_pdu()
                    if pdu.command == "submit_sm_resp" and pdu.sequence == sent.sequence:
                        break
                    self._handle(client, pdu)
            except (OSError, smpp_errors.ConnectionError, smpp_errors.PDUError) as exc:
                self._drop()
                raise GatewayDown(f"SMSC link lost: {exc}") from exc
            if pdu.is_error():
                raise GatewayRefused(consts.DESCRIPTIONS.get(pdu.status, f"status {pdu.status}"))
            message_id = pdu.message_id
            return message_id.decode() if isinstance(message_id, bytes) else str(message_id)

    def receipts(self) -> list[Receipt]:
        """Receipts that arrived, including any waiting on the socket now (no blocking)."""
        with self._lock:
            client = self._client
            if client is not None:
                try:
                    while select.select([client._socket], [], [], 0)[0]:
                        self._handle(client, client.read_pdu())
                except (OSError, ValueError, smpp_errors.ConnectionError, smpp_errors.PDUError):
                    self._drop()
            found, self._receipts = self._receipts, []
            return found

    def _handle(self, client: Client, pdu: Any) -> None:
        if pdu.command == "deliver_sm":
            receipt = _receipt_of(pdu)
            if receipt is not None:
                self._receipts.append(receipt)
            answer = smpp.make_pdu("deliver_sm_resp", client=client)
            answer.sequence = pdu.sequence
            client.send_pdu(answer)
        elif pdu.command == "enquire_link":
            answer = smpp.make_pdu("enquire_link_resp", client=client)
            answer.sequence = pdu.sequence
            client.send_pdu(answer)

    def _drop(self) -> None:
        if self._client is not None:
            self._close(self._client)
            self._client = None

    @staticmethod
    def _close(client: Client) -> None:
        try:
            if client._socket is not None:
                client._socket.close()
        except OSError:
            pass
        client._socket = None
        client.state = consts.SMPP_CLIENT_STATE_CLOSED

    def close(self) -> None:
        with self._lock:
            client = self._client
            if client is not None:
                with contextlib.suppress(OSError, socket.timeout, smpp_errors.ConnectionError, smpp_errors.PDUError):
                    client.unbind()
                self._drop()


def _receipt_of(pdu: Any) -> Receipt | None:
    text = pdu.short_message or b""
    if isinstance(text, str):
        text = text.encode()
    found = pdu.receipted_message_id or (m.group(1) if (m := _RECEIPT_ID.search(text)) else None)
    if not found:
        return None
    stat = _RECEIPT_STAT.search(text)
    message_id = found.decode() if isinstance(found, bytes) else str(found)
    return Receipt(message_id, stat.group(1).decode() if stat else "UNKNOWN")
