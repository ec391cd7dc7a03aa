"""The ways an SMS part leaves the server: an SMPP connection to an SMSC (``smpplib``), or
an HTTP gateway (the corporate SMS APIs of Pakistani operators and aggregators).

A gateway submits one part at a time and answers with the SMSC's message id only once the
SMSC acknowledged it (``submit_sm_resp``), so the caller knows exactly which parts left: a
part that was not acknowledged is sent again later, one that was is never sent twice.
Delivery receipts (``deliver_sm`` with a receipted message id) are collected as they
arrive and handed over by ``receipts``; an HTTP gateway calls the receipt endpoint back
(``POST /api/v1/sms/receipts``) instead, so its ``receipts`` has none to hand over.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import re
import select
import socket
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

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
    def submit(
        self, phone: str, part: bytes, *, data_coding: int, esm_class: int, reference: str = ""
    ) -> str: ...

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

    def submit(
        self, phone: str, part: bytes, *, data_coding: int, esm_class: int, reference: str = ""
    ) -> str:
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


UDHI = 0x40


class HttpGateway:
    """Each part is one form POST to the gateway's submit URL:

    ``username``, ``password``, ``from`` (the sender), ``to`` (international, no ``+``),
    ``dcs`` (0: GSM 7-bit, 8: UCS-2), ``udh`` (the concatenation header in hex, empty for a
    single part), ``message`` (the part's body in hex: UTF-16BE for UCS-2, one byte a septet
    for GSM), ``ref`` (the part's own reference, ``<notification>.<part>``: a gateway that
    saw it before answers with the same id and sends nothing) and ``dlr=1``.

    A 2xx answer carries the gateway's message id (JSON ``{"message_id": …}`` or the bare id
    as text): the part left. A 5xx, a timeout or a refused connection is ``GatewayDown``
    (try again after the back-off); another 4xx is ``GatewayRefused``. Delivery receipts
    come back to ``POST /api/v1/sms/receipts``."""

    def __init__(self, url: str, username: str, password: str, source: str, timeout: float = 5.0) -> None:
        self.url, self.username, self.password, self.source = url, username, password, source
        self.timeout = timeout

    @classmethod
    def from_url(cls, url: str, source: str, timeout: float = 5.0) -> HttpGateway:
        """``https://username:password@host[:port]/path`` (the credentials go in the form,
        not in the URL that is called)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s):// URL: {url!r}")
        netloc = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        bare = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        return cls(bare, unquote(parts.username or ""), unquote(parts.password or ""), source, timeout)

    def submit(
        self, phone: str, part: bytes, *, data_coding: int, esm_class: int, reference: str = ""
    ) -> str:
        udh, body = (part[: part[0] + 1], part[part[0] + 1 :]) if esm_class & UDHI and part else (b"", part)
        form = {
            "username": self.username,
            "password": self.password,
            "from": self.source,
            "to": phone.lstrip("+"),
            "dcs": str(data_coding),
            "udh": udh.hex(),
            "message": body.hex(),
            "ref": reference,
            "dlr": "1",
        }
        request = urllib.request.Request(  # noqa: S310  (the URL is the operator's, from config)
            self.url,
            data=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                text = answer.read(4096).decode("utf-8", "replace").strip()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise GatewayDown(f"SMS gateway answered {exc.code}") from exc
            raise GatewayRefused(f"SMS gateway refused the part: {exc.code}") from exc
        except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError, timeouts, a cut answer
            raise GatewayDown(f"SMS gateway unreachable: {exc}") from exc
        message_id = _message_id_of(text)
        if not message_id:
            raise GatewayDown("SMS gateway answered without a message id")
        return message_id

    def receipts(self) -> list[Receipt]:
        return []  # they arrive at POST /api/v1/sms/receipts

    def close(self) -> None:
        pass


def _message_id_of(text: str) -> str:
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return ""
        found = data.get("message_id") if isinstance(data, dict) else None
        return str(found)[:64] if found not in (None, "") else ""
    return text[:64] if text and len(text.split()) == 1 else ""


def gateway_from_url(url: str, source: str) -> SmsGateway:
    """The gateway a ``KHIDMAT_SMS_GATEWAY_URL`` names: ``smpp://`` or ``http(s)://``."""
    scheme = urlsplit(url).scheme
    if scheme == "smpp":
        return SmppGateway.from_url(url, source)
    if scheme in ("http", "https"):
        return HttpGateway.from_url(url, source)
    raise ValueError("KHIDMAT_SMS_GATEWAY_URL must be smpp://user:password@host:port or https://user:password@host/path")
