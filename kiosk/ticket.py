"""Token tickets as monochrome images for 58 mm and 80 mm thermal printers.

ESC/POS code pages cannot print Urdu (no joining, no right-to-left order, missing letters), so
the whole ticket, English included, is drawn here with Pillow and sent to the printer as one
bitmap. Urdu goes through Pillow's raqm layout (HarfBuzz shaping + FriBiDi ordering); without
raqm Pillow silently draws unjoined, left-to-right letters, which is why rendering refuses to
run without it (:func:`require_complex_shaping`).

Nothing here knows about Flask or printers: :func:`render_ticket` takes plain values and returns
an image; transport lives in :mod:`kiosk.printing`.

Size: the ticket is one renderer (blocks, fonts, shaping, QR, fitting) whose parts share the
measuring code.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import qrcode
import qrcode.constants
from PIL import Image, ImageDraw, ImageFont, features

from queue_server.errors import N_
from queue_server.i18n import both

PAPER_WIDTHS: dict[str, int] = {"58mm": 384, "80mm-512": 512, "80mm": 576}

PRIORITIES: frozenset[str] = frozenset({"normal", "senior", "disabled"})

_NOTO = "/usr/share/fonts/truetype/noto"

#: Font files tried in order for each role; the first that exists is used. Override by
#: replacing an entry (e.g. in a deployment hook or a test) before rendering.
FONT_CANDIDATES: dict[str, tuple[str, ...]] = {
    "latin_bold": (
        f"{_NOTO}/NotoSans-Bold.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    ),
    "latin": (
        f"{_NOTO}/NotoSans-Regular.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    ),
    # Nastaliq is the script Urdu readers expect; Naskh is the legible fallback.
    "urdu": (
        f"{_NOTO}/NotoNastaliqUrdu-Regular.ttf",
        f"{_NOTO}/NotoNaskhArabic-Regular.ttf",
        f"{_NOTO}/NotoNaskhArabicUI-Regular.ttf",
    ),
    "urdu_bold": (
        f"{_NOTO}/NotoNastaliqUrdu-Bold.ttf",
        f"{_NOTO}/NotoNastaliqUrdu-Regular.ttf",
        f"{_NOTO}/NotoNaskhArabic-Bold.ttf",
        f"{_NOTO}/NotoNaskhArabic-Regular.ttf",
    ),
}

_URDU_ROLES = frozenset({"urdu", "urdu_bold"})
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_URDU_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_PRIORITY_LABELS: dict[str, str] = {"senior": N_("SENIOR CITIZEN"), "disabled": N_("PERSON WITH DISABILITY")}
_INK = 0
_PAPER = 255
_REFERENCE_WIDTH = 576  # sizes below are in dots at 80 mm / 576 dots and scale with width


class FontNotFoundError(RuntimeError):
    """None of the candidate files for a font role exists on this machine."""


@dataclass(frozen=True)
class TicketData:
    """Everything printed on a token ticket. Nothing personal belongs here."""

    centre_name_en: str
    centre_name_ur: str
    service_name_en: str
    service_name_ur: str
    number: str
    issued_at: datetime
    people_ahead: int
    eta_minutes: int | None
    tracking_url: str
    priority: str = "normal"
    is_reprint: bool = False
    not_served_now: bool = False  # no counter serves the service yet: say so, promise no wait

    def __post_init__(self) -> None:
        if not self.number.strip():
            raise ValueError("number must not be empty")
        if self.issued_at.tzinfo is None or self.issued_at.utcoffset() is None:
            raise ValueError("issued_at must be timezone-aware (the centre's local time)")
        if self.people_ahead < 0:
            raise ValueError(f"people_ahead must be >= 0, got {self.people_ahead}")
        if self.eta_minutes is not None and self.eta_minutes < 0:
            raise ValueError(f"eta_minutes must be >= 0 or None, got {self.eta_minutes}")
        if self.priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {sorted(PRIORITIES)}, got {self.priority!r}")
        if not self.tracking_url:
            raise ValueError("tracking_url must not be empty")


# --- fonts and shaping ---------------------------------------------------------------------


def require_complex_shaping() -> None:
    """Raise RuntimeError unless Pillow can shape Urdu (raqm with FriBiDi and HarfBuzz)."""
    if not features.check_feature("raqm"):
        missing = [lib for lib in ("fribidi", "harfbuzz") if not features.check_feature(lib)]
        detail = f" (missing: {', '.join(missing)})" if missing else ""
        raise RuntimeError(
            "Pillow's raqm text layout is unavailable"
            f"{detail}: Urdu would be drawn as unjoined left-to-right letters. "
            "Install the system FriBiDi library (Debian: apt-get install libfribidi0) "
            "and restart the application."
        )


def font_path(role: str) -> str:
    """Return the first existing file among ``FONT_CANDIDATES[role]``."""
    try:
        candidates = FONT_CANDIDATES[role]
    except KeyError:
        raise FontNotFoundError(
            f"unknown font role {role!r}; known roles: {sorted(FONT_CANDIDATES)}"
        ) from None
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FontNotFoundError(
        f"no font file found for role {role!r}; tried: {', '.join(candidates) or '(none)'}. "
        "Install Debian's fonts-noto-core or point kiosk.ticket.FONT_CANDIDATES"
        f"[{role!r}] at an existing .ttf file."
    )


@lru_cache(maxsize=256)
def _load_font(path: str, size: int, layout: ImageFont.Layout) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, layout_engine=layout)


def _font(role: str, size: int) -> ImageFont.FreeTypeFont:
    return _load_font(font_path(role), size, ImageFont.Layout.RAQM)


def _direction(rtl: bool) -> tuple[str | None, str | None]:
    """(direction, language) for raqm: Urdu is laid out right to left with Urdu rules."""
    return ("rtl", "ur") if rtl else (None, None)


# --- text blocks ---------------------------------------------------------------------------

# Strings whose ink spans the font's usual ascender-to-descender range, so that every line of
# a given font and size gets the same height and baselines stay evenly spaced (glyphs to
# measure, not text anyone reads: no catalogue entry).
_VERTICAL_REFERENCE = {False: "ÅHdgjpy", True: "لگکیںےجہ"}


@lru_cache(maxsize=4096)
def _shaped_bbox(path: str, size: int, text: str, rtl: bool) -> tuple[int, int, int, int]:
    # Shaping Nastaliq costs ~3 ms per call; tickets repeat most strings, so measure once.
    font = _load_font(path, size, ImageFont.Layout.RAQM)
    direction, language = _direction(rtl)
    left, top, right, bottom = font.getbbox(text, direction=direction, language=language)
    return int(left), int(top), int(right), int(bottom)


def _bbox(text: str, role: str, size: int) -> tuple[int, int, int, int]:
    return _shaped_bbox(font_path(role), size, text, role in _URDU_ROLES)


def _line_bbox(text: str, role: str, size: int) -> tuple[int, int, int, int]:
    left, top, right, bottom = _bbox(text, role, size)
    _, ref_top, _, ref_bottom = _bbox(_VERTICAL_REFERENCE[role in _URDU_ROLES], role, size)
    return left, min(top, ref_top), right, max(bottom, ref_bottom)


def _line_width(text: str, role: str, size: int) -> int:
    left, _, right, _ = _bbox(text, role, size)
    return right - left


def _draw_line(text: str, role: str, size: int) -> Image.Image:
    left, top, right, bottom = _line_bbox(text, role, size)
    image = Image.new("L", (max(1, right - left), max(1, bottom - top)), _PAPER)
    direction, language = _direction(role in _URDU_ROLES)
    ImageDraw.Draw(image).text(
        (-left, -top),
        text,
        font=_font(role, size),
        fill=_INK,
        direction=direction,
        language=language,
    )
    return image


def _wrap(text: str, role: str, size: int, max_width: int, max_lines: int | None) -> list[str] | None:
    """Greedy word wrap; None when the text needs more than ``max_lines`` lines or a single
    word is wider than ``max_width``. With ``max_lines=None`` it always returns lines."""
    if _line_width(text, role, size) <= max_width:
        return [text]
    words = text.split()
    if not words:
        return [text]
    lines: list[str] = []
    current = words[0]
    for word in words[1:]:
        candidate = f"{current} {word}"
        if _line_width(candidate, role, size) <= max_width:
            current = candidate
        else:
            lines.append(current)
            current = word
    lines.append(current)
    if max_lines is None:
        return lines
    if len(lines) > max_lines or any(_line_width(ln, role, size) > max_width for ln in lines):
        return None
    return lines


def _stack(images: Sequence[Image.Image], gap: int, width: int | None = None) -> Image.Image:
    """Stack images top to bottom, each centred horizontally."""
    canvas_width = width if width is not None else max(im.width for im in images)
    height = sum(im.height for im in images) + gap * (len(images) - 1)
    canvas = Image.new("L", (canvas_width, max(1, height)), _PAPER)
    y = 0
    for im in images:
        canvas.paste(im, ((canvas_width - im.width) // 2, y))
        y += im.height + gap
    return canvas


def _fit_to_width(image: Image.Image, max_width: int) -> Image.Image:
    if image.width <= max_width:
        return image
    height = max(1, image.height * max_width // image.width)
    return image.resize((max_width, height), Image.Resampling.LANCZOS)


def text_block(
    text: str,
    role: str,
    size: int,
    max_width: int,
    *,
    min_size: int | None = None,
    max_lines: int = 2,
) -> Image.Image:
    """Draw ``text`` centred in as few lines as fit ``max_width``, never cut off.

    Tries the nominal size wrapped onto up to ``max_lines`` lines, then shrinks the font step
    by step down to ``min_size``; at the smallest size it wraps onto as many lines as needed,
    and a single word still too wide is scaled down as a last resort.
    Returns a white "L" image cropped to the text's line boxes.
    """
    return _text_block(text, role, size, max_width, min_size, max_lines, font_path(role)).copy()


@lru_cache(maxsize=1024)
def _text_block(
    text: str,
    role: str,
    size: int,
    max_width: int,
    min_size: int | None,
    max_lines: int,
    font: str,
) -> Image.Image:
    # Cached: the layout only pastes these images, never changes them. ``font`` (the file
    # the role resolves to now) is part of the key, so a font that goes missing or is
    # replaced is noticed instead of served from the cache.
    floor = min(size, min_size if min_size is not None else max(12, size * 2 // 3))
    current = size
    while True:
        lines = _wrap(text, role, current, max_width, max_lines if current > floor else None)
        if lines is not None:
            gap = max(2, current // 5)
            drawn = [_fit_to_width(_draw_line(line, role, current), max_width) for line in lines]
            return _stack(drawn, gap)
        current = max(floor, current * 9 // 10 if current > 12 else current - 1)


def _row_or_stack(blocks: Sequence[Image.Image], max_width: int, gap: int) -> Image.Image:
    """Lay blocks side by side (English left, Urdu right) if they fit, else stack them."""
    total = sum(b.width for b in blocks) + gap * (len(blocks) - 1)
    if total > max_width:
        return _stack(blocks, gap // 3)
    height = max(b.height for b in blocks)
    row = Image.new("L", (total, height), _PAPER)
    x = 0
    for block in blocks:
        row.paste(block, (x, (height - block.height) // 2))
        x += block.width + gap
    return row


def _framed(content: Image.Image, width: int, pad: int, border: int, inverted: bool) -> Image.Image:
    """Put ``content`` in a full-width box: outlined, or white on black when ``inverted``."""
    height = content.height + 2 * pad
    box = Image.new("L", (width, height), _INK if inverted else _PAPER)
    if not inverted:
        ImageDraw.Draw(box).rectangle((0, 0, width - 1, height - 1), outline=_INK, width=border)
    x = (width - content.width) // 2
    if inverted:
        # paste black where the text's ink is white: invert the text and use it as a mask
        mask = content.point(lambda v: 255 - v)
        box.paste(_PAPER, (x, pad, x + content.width, pad + content.height), mask)
    else:
        box.paste(content, (x, pad))
    return box


def _rule(width: int, thickness: int) -> Image.Image:
    return Image.new("L", (width, thickness), _INK)


# --- QR -------------------------------------------------------------------------------------


def qr_matrix(data: str, border: int = 4) -> list[list[bool]]:
    """The QR modules for ``data`` (error correction M), quiet zone of ``border`` modules."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border, box_size=1)
    code.add_data(data)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


def qr_image(data: str, box_size: int, border: int = 4) -> Image.Image:
    """A mode "1" QR code with square ``box_size``-dot modules, black on white."""
    return _qr_from_matrix(qr_matrix(data, border), box_size)


def _qr_from_matrix(matrix: list[list[bool]], box_size: int) -> Image.Image:
    if box_size < 1:
        raise ValueError("box_size must be >= 1")
    n = len(matrix)
    small = Image.new("1", (n, n), 1)
    small.putdata([0 if dark else 1 for row in matrix for dark in row])
    return small.resize((n * box_size, n * box_size), Image.Resampling.NEAREST)


def qr_box_size(modules: int, target_width: int, max_width: int) -> int:
    """Module size in dots for a code of ``modules`` modules (quiet zone included) about
    ``target_width`` wide: at least 4 dots (0.5 mm on a 203 dpi head, what phone cameras read
    reliably off thermal paper) unless even that would not fit ``max_width``."""
    return max(1, min(max(4, target_width // modules), max_width // modules))


# --- wording ---------------------------------------------------------------------------------


def format_issued_at(issued_at: datetime) -> str:
    """``28 Nov 2026 09:41``, independent of the process locale."""
    month = _MONTHS[issued_at.month - 1]
    return f"{issued_at.day} {month} {issued_at.year} {issued_at:%H:%M}"


def _both(message: str, **numbers: int) -> tuple[str, str]:
    """(English, Urdu) of a catalogue message; the Urdu line is printed with Urdu digits."""
    english, urdu = both(message, **numbers)
    return english, urdu.translate(_URDU_DIGITS)


def people_ahead_text(people_ahead: int) -> tuple[str, str]:
    """(English, Urdu) line for the number of people ahead."""
    if people_ahead == 0:
        return _both(N_("No one ahead of you"))
    if people_ahead == 1:
        return _both(N_("1 person ahead of you"))
    return _both(N_("%(count)s people ahead of you"), count=people_ahead)


def wait_text(eta_minutes: int | None) -> tuple[str, str]:
    """(English, Urdu) line for the expected wait."""
    if eta_minutes is None:
        return _both(N_("Expected wait: not known yet"))
    if eta_minutes < 1:
        return _both(N_("Expected wait: under a minute"))
    hours, minutes = divmod(eta_minutes, 60)
    if hours == 0:
        return _both(N_("Expected wait: about %(minutes)s min"), minutes=minutes)
    if minutes == 0:
        return _both(N_("Expected wait: about %(hours)s h"), hours=hours)
    return _both(N_("Expected wait: about %(hours)s h %(minutes)s min"), hours=hours, minutes=minutes)


def unserved_text() -> tuple[str, str]:
    return _both(N_("No counter is open for this service yet: you will be called when one opens"))


def wait_instruction() -> tuple[str, str]:
    return _both(N_("Please wait for your turn and watch for your number on the screen."))


def scan_caption() -> tuple[str, str]:
    return _both(N_("Scan to follow your turn"))


# --- layout ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Placed:
    name: str
    image: Image.Image
    gap_before: int


def _layout(data: TicketData, width: int, include_qr: bool) -> list[_Placed]:
    """The ticket as named blocks, top to bottom, each no wider than ``width``."""

    def px(reference: int) -> int:  # a length given at 576 dots, scaled to this paper
        return max(1, reference * width // _REFERENCE_WIDTH)

    def pt(reference: int) -> int:
        # Text shrinks less than the paper: 58 mm tickets are read at the same distance.
        return reference * (width + _REFERENCE_WIDTH) // (2 * _REFERENCE_WIDTH)

    margin = px(20)
    inner = width - 2 * margin
    gap = px(14)
    rule = _rule(inner, max(2, px(3)))
    blocks: list[_Placed] = []

    def tb(text: str, role: str, size: int, max_width: int = inner) -> Image.Image:
        return _text_block(text, role, pt(size), max_width, None, 2, font_path(role))

    def add(name: str, image: Image.Image, gap_before: int = gap) -> None:
        blocks.append(_Placed(name, image, gap_before))

    if data.is_reprint:
        reprint = _both(N_("REPRINT"))
        mark = _row_or_stack(
            [
                tb(reprint[0], "latin_bold", 30),
                tb(reprint[1], "urdu_bold", 28),
            ],
            inner - 2 * px(12),
            px(24),
        )
        add("reprint", _framed(mark, inner, px(8), max(2, px(4)), inverted=False), 0)

    add("centre_en", tb(data.centre_name_en, "latin_bold", 28), gap)
    add("centre_ur", tb(data.centre_name_ur, "urdu", 28), px(6))
    add("rule_top", rule, gap)
    add("service_ur", tb(data.service_name_ur, "urdu_bold", 34), gap)
    add("service_en", tb(data.service_name_en, "latin", 28), px(6))

    add("number", _number_block(data.number, inner, px(170)), px(24))

    if data.priority != "normal":
        en, ur = _both(_PRIORITY_LABELS[data.priority])
        pad = px(10)
        content = _row_or_stack(
            [
                tb(en, "latin_bold", 26, inner - 2 * pad),
                tb(ur, "urdu_bold", 28, inner - 2 * pad),
            ],
            inner - 2 * pad,
            px(24),
        )
        add("priority", _framed(content, inner, pad, 0, inverted=True), gap)

    add("issued_at", tb(format_issued_at(data.issued_at), "latin_bold", 26))
    add("rule_middle", rule, gap)
    for name, (en, ur) in (
        ("people_ahead", people_ahead_text(data.people_ahead)),
        ("wait", unserved_text() if data.not_served_now else wait_text(data.eta_minutes)),
    ):
        add(name, _stack([tb(en, "latin", 24), tb(ur, "urdu", 24)], 0), gap)

    if include_qr:
        matrix = qr_matrix(data.tracking_url)  # ~4 ms of pure Python: build it once
        box = qr_box_size(len(matrix), width * 2 // 5, inner)
        add("qr", _qr_from_matrix(matrix, box).convert("L"), px(6))
        words = scan_caption()
        caption = _row_or_stack(
            [
                tb(words[0], "latin", 20),
                tb(words[1], "urdu", 20),
            ],
            inner,
            px(16),
        )
        add("qr_caption", caption, 0)

    add("rule_bottom", rule, gap)
    instruction = wait_instruction()
    add("instruction_ur", tb(instruction[1], "urdu", 26), gap)
    add("instruction_en", tb(instruction[0], "latin", 22), px(6))
    return blocks


def _number_block(number: str, max_width: int, cap_height: int) -> Image.Image:
    """The token number as large as fits: ``cap_height`` tall unless too wide for the paper."""
    role = "latin_bold"
    size = cap_height * 10 // 7  # Noto Sans capitals are about 0.71 em tall
    measured = _line_width(number, role, size)
    if measured > max_width:
        size = max(12, size * max_width // measured)
        while size > 12 and _line_width(number, role, size) > max_width:
            size -= 1
    left, top, right, bottom = _bbox(number, role, size)
    image = Image.new("L", (right - left, bottom - top), _PAPER)
    ImageDraw.Draw(image).text((-left, -top), number, font=_font(role, size), fill=_INK)
    return _fit_to_width(image, max_width)


def render_ticket(data: TicketData, width: int = 576, *, include_qr: bool = True) -> Image.Image:
    """Render the ticket as a mode "1" image exactly ``width`` dots wide.

    ``include_qr=False`` leaves the QR code out, for printers configured to print it natively
    (``GS ( k``) after the image. Raises RuntimeError if Urdu cannot be shaped and
    FontNotFoundError if a font is missing.
    """
    return _render(data, width, include_qr)[0]


def _render(
    data: TicketData, width: int, include_qr: bool
) -> tuple[Image.Image, dict[str, tuple[int, int, int, int]]]:
    """The ticket and the box (left, top, right, bottom) of each named block on it."""
    if width < 200:
        raise ValueError(f"width must be at least 200 dots, got {width}")
    require_complex_shaping()
    blocks = _layout(data, width, include_qr)
    top_pad = max(4, width // 48)
    bottom_pad = max(8, width // 24)
    height = top_pad + sum(b.gap_before + b.image.height for b in blocks) + bottom_pad
    canvas = Image.new("L", (width, height), _PAPER)
    boxes: dict[str, tuple[int, int, int, int]] = {}
    y = top_pad
    for block in blocks:
        y += block.gap_before
        x = (width - block.image.width) // 2
        canvas.paste(block.image, (x, y))
        boxes[block.name] = (x, y, x + block.image.width, y + block.image.height)
        y += block.image.height
    # Threshold instead of dithering: anti-aliased edges become crisp strokes, not dots.
    return canvas.convert("1", dither=Image.Dither.NONE), boxes


def ticket_png(data: TicketData, width: int = 576, *, include_qr: bool = True) -> bytes:
    """The rendered ticket as PNG bytes (for the screen preview or a file printer)."""
    buffer = io.BytesIO()
    render_ticket(data, width, include_qr=include_qr).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
