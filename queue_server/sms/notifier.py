"""The outbox adapter for SMS: composes each notification's text in the citizen's
language, splits it (``parts``) and submits the parts the gateway has not acknowledged yet."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import force_locale, gettext

from queue_server.notify import NoRecipient, OutgoingNotification
from queue_server.sms import parts
from queue_server.sms.gateways import HttpGateway, Receipt, SmsGateway, gateway_from_url


def message_text(notification: OutgoingNotification) -> str:
    """What the citizen reads, in their language (from the Babel catalogue)."""
    p = notification.payload
    language = notification.language if notification.language in ("ur", "en") else "ur"
    service = p.get("service_ur" if language == "ur" else "service_en") or ""
    with force_locale(language):
        if notification.kind == "almost_turn":
            return gettext(
                "Token %(number)s (%(service)s): almost your turn, %(ahead)s ahead. Please come inside now.",
                number=p.get("number", ""), service=service, ahead=p.get("ahead", 0),
            )
        if notification.kind == "called":
            return gettext(
                "Token %(number)s: please go to counter %(counter)s now.",
                number=p.get("number", ""), counter=p.get("counter", ""),
            )
        if notification.kind == "request_ready":
            return gettext(
                "Token %(number)s: your %(service)s is ready. Collect it at the centre.",
                number=p.get("number", ""), service=service,
            )
        if notification.kind == "delivery_dispatched":
            return gettext(
                "Request %(reference)s: your %(service)s was sent with %(courier)s, consignment %(consignment)s.",
                reference=p.get("reference", ""), service=service, courier=p.get("courier", ""),
                consignment=p.get("consignment", ""),
            )
        if notification.kind == "booking_otp":
            return gettext(
                "Your Khidmat booking code: %(otp)s. It is valid for %(minutes)s minutes. Do not share it.",
                otp=p.get("otp", ""), minutes=p.get("minutes", 10),
            )
        if notification.kind == "booking_confirmed":
            centre = p.get("centre_ur" if language == "ur" else "centre_en") or ""
            return gettext(
                "Booked: %(service)s at %(centre)s, %(when)s. Booking %(code)s: show or type it at the kiosk.",
                service=service, centre=centre, when=p.get("when", ""), code=p.get("code", ""),
            )
        return gettext("Token %(number)s: there is news about your visit.", number=p.get("number", ""))


class SmsNotifier:
    channel = "sms"
    needs_recipient = True

    def __init__(self, gateway: SmsGateway) -> None:
        self.gateway = gateway
        # An SMPP link brings receipts only while it is read; an HTTP gateway calls back.
        self.polls_receipts = not isinstance(gateway, HttpGateway)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmsNotifier:
        url = str(config.get("SMS_GATEWAY_URL") or "")
        try:
            return cls(gateway_from_url(url, str(config.get("SMS_SENDER") or "Khidmat")))
        except ValueError as exc:
            raise RuntimeError(f"KHIDMAT_NOTIFIER=sms: {exc}") from None

    def send(self, notification: OutgoingNotification) -> None:
        """Submit every part not acknowledged before; raises (GatewayDown …) on the first
        part that did not leave — the ones before it are in ``notification.acks``."""
        if not notification.recipient:
            raise NoRecipient()
        split = parts.split(message_text(notification), reference=notification.id)
        total = len(split.parts)
        for number, part in enumerate(split.parts, start=1):
            if number in notification.acked:
                continue
            message_id = self.gateway.submit(
                notification.recipient, part, data_coding=split.data_coding, esm_class=split.esm_class,
                reference=f"{notification.id}.{number}",
            )
            notification.acks.append((number, total, message_id))

    def receipts(self) -> list[Receipt]:
        return self.gateway.receipts()
