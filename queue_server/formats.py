"""How people's identifiers are written: the CNIC and Pakistani mobile numbers, checked,
normalised, shown to clerks and masked for everyone else. Requests, bookings, the remote
queue and SMS all read and write them this way."""

from __future__ import annotations

import re

from queue_server.errors import N_, FieldInvalid

CNIC_PATTERN = re.compile(r"^\d{5}-\d{7}-\d$")
_CNIC_DIGITS = re.compile(r"^\d{13}$")
MOBILE_PATTERN = re.compile(r"^(?:\+92|0092|92|0)(3\d{9})$")
_SEPARATORS = re.compile(r"[\s\-().]")

def normalise_cnic(value: str) -> str:
    """``#####-#######-#``; 13 digits typed without dashes are accepted and dashed.
    A format check only: the CNIC has no public checksum."""
    text = re.sub(r"\s", "", str(value))
    if _CNIC_DIGITS.match(text):
        text = f"{text[:5]}-{text[5:12]}-{text[12]}"
    if not CNIC_PATTERN.match(text):
        raise FieldInvalid(
            "cnic", N_("CNIC must be 13 digits in the form 35202-1234567-1."), code="invalid_cnic"
        )
    return text


def normalise_phone(value: str) -> str:
    """A Pakistani mobile number, stored as +923XXXXXXXXX. Accepts 03XX-XXXXXXX,
    03XXXXXXXXX, +92 3XX XXXXXXX, 923XXXXXXXXX and 00923XXXXXXXXX."""
    match = MOBILE_PATTERN.match(_SEPARATORS.sub("", str(value)))
    if match is None:
        raise FieldInvalid(
            "phone", N_("Mobile number must be a Pakistani mobile such as 0300-1234567 or +923001234567."),
            code="invalid_phone",
        )
    return "+92" + match.group(1)


def phone_local(phone: str) -> str:
    """+923001234567 -> 0300-1234567 (how clerks read it)."""
    if not phone.startswith("+92") or len(phone) != 13:
        return phone
    digits = "0" + phone[3:]
    return f"{digits[:4]}-{digits[4:]}"


def mask_cnic(cnic: str) -> str:
    """35202-1234567-1 -> 35202-*******-1."""
    if not CNIC_PATTERN.match(cnic or ""):
        return ""
    return f"{cnic[:5]}-*******-{cnic[-1]}"


def mask_phone(phone: str) -> str:
    """+923001234567 -> 0300-*****67."""
    local = phone_local(phone or "")
    if len(local) != 12:
        return ""
    return f"{local[:5]}*****{local[-2:]}"
