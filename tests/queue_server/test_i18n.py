"""Languages: chosen per request by ?lang= (remembered in a cookie), errors in the
caller's language, pages marked with lang and dir."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import bearer


def test_errors_come_in_the_callers_language(client: FlaskClient, keys: dict[str, str]) -> None:
    english = client.get("/api/v1/centres/nowhere/services", headers=bearer(keys["kiosk"]))
    assert english.status_code == 404 and english.json["message"] == "No centre nowhere."
    urdu = client.get("/api/v1/centres/nowhere/services?lang=ur", headers=bearer(keys["kiosk"]))
    assert urdu.status_code == 404
    assert urdu.json["error"] == "not_found"
    assert urdu.json["message"] == "مرکز nowhere موجود نہیں۔"


def test_the_choice_is_remembered_in_a_cookie(client: FlaskClient, keys: dict[str, str]) -> None:
    first = client.get("/api/v1/tokens/999999?lang=ur", headers=bearer(keys["clerk1"]))
    assert "lang=ur" in first.headers.get("Set-Cookie", "")
    later = client.get("/api/v1/tokens/999999", headers=bearer(keys["clerk1"]))
    assert later.json["message"] == "ٹوکن 999999 موجود نہیں۔"
    back = client.get("/api/v1/tokens/999999?lang=en", headers=bearer(keys["clerk1"]))
    assert back.json["message"] == "No token 999999."


def test_accept_language_is_the_fallback(client: FlaskClient, keys: dict[str, str]) -> None:
    r = client.get(
        "/api/v1/tokens/5", headers={**bearer(keys["clerk1"]), "Accept-Language": "ur-PK,ur;q=0.9"}
    )
    assert r.json["message"] == "ٹوکن 5 موجود نہیں۔"


def test_pages_carry_lang_and_dir(client: FlaskClient, demo: object) -> None:
    urdu = client.get("/display/demo?lang=ur")  # unpaired: the pairing page, in Urdu
    html = urdu.get_data(as_text=True)
    assert '<html lang="ur" dir="rtl">' in html
    assert "اس اسکرین کو جوڑیں" in html
    english = client.get("/display/demo?lang=en").get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in english and "Pair this screen" in english


def test_unknown_language_falls_back(client: FlaskClient, keys: dict[str, str]) -> None:
    r = client.get("/api/v1/tokens/5?lang=xx", headers=bearer(keys["clerk1"]))
    assert r.json["message"] == "No token 5."
