"""Splitting a text into SMS parts. Pure: no network, no Flask.

A text that the GSM 7-bit default alphabet holds goes as GSM (160 septets, 153 a part
when concatenated); anything else — Urdu — as UCS-2 (70 characters, 67 a part). A part
boundary never falls inside a character: not between the two halves of a UTF-16
surrogate pair (an emoji) and not between a GSM escape and the character it escapes.
Concatenated parts carry an 8-bit-reference UDH (``05 00 03 ref total seq``); the caller
chooses the reference, so a part sent again after a failure is the same part.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>"
    "?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = {"^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65}
GSM_SINGLE, GSM_PART = 160, 153  # septets
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units
MAX_PARTS = 255
DATA_CODING_GSM = 0x00
DATA_CODING_UCS2 = 0x08
ESM_CLASS_UDHI = 0x40


class MessageTooLong(ValueError):
    """More than 255 parts."""


@dataclass(frozen=True)
class SmsParts:
    data_coding: int
    esm_class: int
    parts: tuple[bytes, ...]  # each the short_message of one submit_sm (UDH included)

    @property
    def is_unicode(self) -> bool:
        return self.data_coding == DATA_CODING_UCS2


def _gsm_units(text: str) -> list[bytes] | None:
    """The text as GSM 7-bit units (one septet, or the escape and its septet), unpacked one
    byte a septet as SMPP carries them; None when a character is not in the alphabet."""
    units = []
    for char in text:
        index = GSM_BASIC.find(char)
        if index >= 0 and char != "\x1b":
            units.append(bytes([index]))
        elif char in GSM_EXTENDED:
            units.append(bytes([0x1B, GSM_EXTENDED[char]]))
        else:
            return None
    return units


def _ucs2_units(text: str) -> list[bytes]:
    """The text as UTF-16BE, one unit a character (a surrogate pair stays one unit)."""
    return [char.encode("utf-16-be") for char in text]


def _chunks(units: list[bytes], size_of: int, limit: int) -> list[bytes]:
    """Greedy packing of whole units into chunks of at most ``limit`` (in ``size_of`` units)."""
    chunks: list[bytes] = []
    current: list[bytes] = []
    used = 0
    for unit in units:
        width = len(unit) // size_of
        if used + width > limit:
            chunks.append(b"".join(current))
            current, used = [], 0
        current.append(unit)
        used += width
    if current or not chunks:
        chunks.append(b"".join(current))
    return chunks


def split(text: str, reference: int) -> SmsParts:
    """The parts of ``text`` (see the module docstring); ``reference`` is 0-255."""
    gsm = _gsm_units(text)
    if gsm is not None:
        data_coding, units, size_of, single, per_part = DATA_CODING_GSM, gsm, 1, GSM_SINGLE, GSM_PART
    else:
        units = _ucs2_units(text)
        data_coding, size_of, single, per_part = DATA_CODING_UCS2, 2, UCS2_SINGLE, UCS2_PART
    if sum(len(u) for u in units) // size_of <= single:
        return SmsParts(data_coding, 0, (b"".join(units),))
    chunks = _chunks(units, size_of, per_part)
    if len(chunks) > MAX_PARTS:
        raise MessageTooLong(f"{len(chunks)} parts")
    ref = reference & 0xFF
    parts = tuple(
        bytes([0x05, 0x00, 0x03, ref, len(chunks), seq]) + chunk for seq, chunk in enumerate(chunks, start=1)
    )
    return SmsParts(data_coding, ESM_CLASS_UDHI, parts)


def decode(parts: SmsParts) -> str:
    """The text back from its parts (tests, and the test SMSC)."""
    out = []
    for part in parts.parts:
        body = part[6:] if parts.esm_class & ESM_CLASS_UDHI else part
        out.append(decode_body(body, parts.data_coding))
    return "".join(out)


def decode_body(body: bytes, data_coding: int) -> str:
    if data_coding == DATA_CODING_UCS2:
        return body.decode("utf-16-be")
    reverse_ext = {v: k for k, v in GSM_EXTENDED.items()}
    text, escaped = [], False
    for byte in body:
        if escaped:
            text.append(reverse_ext.get(byte, "?"))
            escaped = False
        elif byte == 0x1B:
            escaped = True
        else:
            text.append(GSM_BASIC[byte])
    return "".join(text)
