"""Ticket rendering: real Urdu shaping, exact widths, a QR that matches qrcode, nothing cut."""

import io
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont, features

from kiosk import ticket
from kiosk.ticket import (
    PAPER_WIDTHS,
    FontNotFoundError,
    TicketData,
    format_issued_at,
    people_ahead_text,
    qr_image,
    qr_matrix,
    render_ticket,
    require_complex_shaping,
    text_block,
    ticket_png,
    wait_text,
)

PKT = timezone(timedelta(hours=5), "PKT")
WIDTHS = sorted(PAPER_WIDTHS.values())


def make_data(**overrides: object) -> TicketData:
    values: dict[str, object] = {
        "centre_name_en": "Khidmat Markaz Model Town, Lahore",
        "centre_name_ur": "خدمت مرکز ماڈل ٹاؤن، لاہور",
        "service_name_en": "Character Certificate",
        "service_name_ur": "کریکٹر سرٹیفکیٹ",
        "number": "A042",
        "issued_at": datetime(2026, 11, 28, 9, 41, tzinfo=PKT),
        "people_ahead": 7,
        "eta_minutes": 25,
        "tracking_url": "https://khidmat.example.pk/t/9f3a2c7e",
    }
    values.update(overrides)
    return TicketData(**values)  # type: ignore[arg-type]


def draw(text: str, layout: ImageFont.Layout) -> Image.Image:
    font = ImageFont.truetype(ticket.font_path("urdu"), 40, layout_engine=layout)
    shaped = layout == ImageFont.Layout.RAQM  # basic layout refuses direction/language
    direction, language = ("rtl", "ur") if shaped else (None, None)
    left, top, right, bottom = font.getbbox(text, direction=direction, language=language)
    image = Image.new("L", (int(right - left), int(bottom - top)), 255)
    ImageDraw.Draw(image).text(
        (-left, -top), text, font=font, fill=0, direction=direction, language=language
    )
    return image


# --- shaping ------------------------------------------------------------------------------


def test_raqm_is_available_here() -> None:
    assert features.check_feature("raqm")
    require_complex_shaping()


def test_urdu_is_really_shaped() -> None:
    word = "کریکٹر سرٹیفکیٹ"
    shaped = draw(word, ImageFont.Layout.RAQM)
    unshaped = draw(word, ImageFont.Layout.BASIC)
    assert shaped.size != unshaped.size or ImageChops.difference(shaped, unshaped).getbbox()
    # joined letters take less room than the isolated forms the basic layout draws
    assert shaped.width < unshaped.width


def test_missing_raqm_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(features, "check_feature", lambda name: False)
    with pytest.raises(RuntimeError, match="libfribidi0"):
        require_complex_shaping()
    with pytest.raises(RuntimeError, match="raqm"):
        render_ticket(make_data())


# --- fonts ----------------------------------------------------------------------------------


def test_font_lookup_takes_first_existing_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    real = ticket.FONT_CANDIDATES["latin"][0]
    monkeypatch.setitem(ticket.FONT_CANDIDATES, "latin", ("/nonexistent/A.ttf", real))
    assert ticket.font_path("latin") == real


def test_missing_fonts_are_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ticket.FONT_CANDIDATES, "urdu", ("/nonexistent/Nastaliq.ttf",))
    with pytest.raises(FontNotFoundError, match=r"/nonexistent/Nastaliq\.ttf"):
        ticket.font_path("urdu")
    with pytest.raises(FontNotFoundError, match="fonts-noto-core"):
        render_ticket(make_data(service_name_ur="ایک نئی سروس"))
    with pytest.raises(FontNotFoundError, match="unknown font role"):
        ticket.font_path("klingon")


# --- the rendered ticket --------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_every_paper_width_is_exact_and_monochrome(width: int) -> None:
    image = render_ticket(make_data(), width)
    assert image.mode == "1"
    assert image.width == width
    assert 600 < image.height < 2000


@pytest.mark.parametrize("width", WIDTHS)
def test_blocks_stay_inside_the_paper_and_do_not_overlap(width: int) -> None:
    data = make_data(priority="senior", is_reprint=True)
    image, boxes = ticket._render(data, width, include_qr=True)
    previous_bottom = 0
    for name, (left, top, right, bottom) in boxes.items():
        assert 0 <= left < right <= width, name
        assert previous_bottom <= top < bottom <= image.height, name
        previous_bottom = bottom
    assert {"reprint", "priority", "number", "qr"} <= set(boxes)


def test_token_number_is_the_dominant_element() -> None:
    _, boxes = ticket._render(make_data(), 576, include_qr=True)
    heights = {name: box[3] - box[1] for name, box in boxes.items() if name != "qr"}
    widths = {name: box[2] - box[0] for name, box in boxes.items()}
    assert max(heights, key=heights.__getitem__) == "number"
    assert widths["number"] > 576 * 3 // 4


def test_optional_blocks_only_when_asked() -> None:
    _, plain = ticket._render(make_data(), 576, include_qr=True)
    assert not {"reprint", "priority"} & set(plain)
    _, disabled = ticket._render(make_data(priority="disabled"), 576, include_qr=False)
    assert "priority" in disabled
    assert "qr" not in disabled


@pytest.mark.parametrize("width", WIDTHS)
def test_qr_in_the_ticket_is_the_tracking_url(width: int) -> None:
    data = make_data()
    image, boxes = ticket._render(data, width, include_qr=True)
    left, top, right, bottom = boxes["qr"]
    placed = image.crop((left, top, right, bottom))
    modules = len(qr_matrix(data.tracking_url))
    expected = qr_image(data.tracking_url, (right - left) // modules)
    assert placed.size == expected.size
    assert ImageChops.difference(placed.convert("L"), expected.convert("L")).getbbox() is None
    assert (right - left) // modules >= 4  # modules big enough for a phone camera


def test_qr_image_matches_qrcode_matrix() -> None:
    url = "https://khidmat.example.pk/t/0001"
    box = 5
    image = qr_image(url, box)
    import qrcode
    import qrcode.constants

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(url)
    code.make(fit=True)
    matrix = code.get_matrix()
    assert image.mode == "1"
    assert image.size == (len(matrix) * box, len(matrix) * box)
    for row, cells in enumerate(matrix):
        for col, dark in enumerate(cells):
            pixel = image.getpixel((col * box + box // 2, row * box + box // 2))
            assert (pixel == 0) == dark, (row, col)


def test_very_long_texts_still_fit() -> None:
    long_en = (
        "Renewal of Driving Licence with International Driving Permit and Verification "
        "of Supporting Documents for Overseas Pakistanis"
    )
    long_ur = (
        "بیرونِ ملک مقیم پاکستانیوں کے لیے بین الاقوامی ڈرائیونگ پرمٹ کے ساتھ ڈرائیونگ "
        "لائسنس کی تجدید اور معاون دستاویزات کی تصدیق"
    )
    data = make_data(
        centre_name_en="Khidmat Markaz " + "Extraordinarily" * 6,  # one unbreakable word
        service_name_en=long_en,
        service_name_ur=long_ur,
        number="SR-10042",
        people_ahead=1234,
        eta_minutes=605,
    )
    for width in WIDTHS:
        image, boxes = ticket._render(data, width, include_qr=True)
        assert image.width == width
        for left, _, right, _ in boxes.values():
            assert left >= 0
            assert right <= width
        assert boxes["service_en"][3] - boxes["service_en"][1] > 40  # wrapped, not cut


def test_text_block_wraps_then_shrinks_never_cuts() -> None:
    sentence = "Please wait for your turn and watch for your number on the screen."
    one_line = text_block(sentence, "latin", 22, 2000)
    wrapped = text_block(sentence, "latin", 22, 300)
    assert wrapped.width <= 300
    assert wrapped.height > one_line.height  # two lines at the same size
    word = "Supercalifragilisticexpialidocious" * 3
    squeezed = text_block(word, "latin_bold", 30, 200)
    assert squeezed.width <= 200
    assert squeezed.getbbox() is not None


def test_text_block_returns_a_copy_that_is_safe_to_change() -> None:
    first = text_block("Token", "latin", 30, 300)
    first.paste(0, (0, 0, first.width, first.height))
    again = text_block("Token", "latin", 30, 300)
    assert again.getextrema() == (0, 255)


def test_rendering_is_deterministic() -> None:
    data = make_data(priority="senior")
    assert render_ticket(data, 512).tobytes() == render_ticket(data, 512).tobytes()


def test_ticket_png_is_a_png_of_the_ticket() -> None:
    png = ticket_png(make_data(), 384)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as decoded:
        assert decoded.width == 384


# --- ticket data and wording ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"issued_at": datetime(2026, 11, 28, 9, 41)}, "timezone-aware"),
        ({"priority": "vip"}, "priority"),
        ({"people_ahead": -1}, "people_ahead"),
        ({"eta_minutes": -5}, "eta_minutes"),
        ({"number": " "}, "number"),
        ({"tracking_url": ""}, "tracking_url"),
    ],
)
def test_ticket_data_is_validated(override: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_data(**override)


def test_issued_at_format_does_not_depend_on_locale() -> None:
    assert format_issued_at(datetime(2026, 11, 28, 9, 41, tzinfo=PKT)) == "28 Nov 2026 09:41"
    assert format_issued_at(datetime(2027, 1, 3, 17, 5, tzinfo=PKT)) == "3 Jan 2027 17:05"


def test_queue_wording_in_both_languages() -> None:
    assert people_ahead_text(0) == ("No one ahead of you", "آپ سے پہلے کوئی نہیں")
    assert people_ahead_text(12) == ("12 people ahead of you", "آپ سے پہلے ۱۲ افراد")
    assert wait_text(None)[0] == "Expected wait: not known yet"
    assert wait_text(0)[0] == "Expected wait: under a minute"
    assert wait_text(25) == ("Expected wait: about 25 min", "متوقع انتظار: تقریباً ۲۵ منٹ")
    assert wait_text(80)[0] == "Expected wait: about 1 h 20 min"
    assert wait_text(120)[1] == "متوقع انتظار: تقریباً ۲ گھنٹے"
