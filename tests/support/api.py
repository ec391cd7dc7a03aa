"""Driving the JSON API as a named caller of the demo centre (test client)."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.conftest import bearer

CNIC = "35202-1234567-1"
PHONE = "0300-1234567"


class Api:
    def __init__(self, client: FlaskClient, keys: dict[str, str]) -> None:
        self.client = client
        self.keys = keys

    def __call__(self, method: str, path: str, who: str, body: Any = None) -> Any:
        return self.client.open("/api/v1" + path, method=method, headers=bearer(self.keys[who]), json=body)

    def ok(self, method: str, path: str, who: str, body: Any = None, status: int = 200) -> Any:
        response = self(method, path, who, body)
        assert response.status_code == status, (method, path, response.status_code, response.get_json())
        return response.get_json()


def fill(api: Api, req: dict[str, Any], who: str = "clerk1", **extra: Any) -> dict[str, Any]:
    """Record the applicant on a request (name, CNIC, mobile)."""
    body = {"applicant_name": "Ali Khan", "cnic": CNIC, "phone": PHONE, **extra}
    return api.ok("PATCH", f"/requests/{req['id']}", who, body)


def issue_at_kiosk(client: FlaskClient, keys: dict[str, str], service: str = "character") -> dict[str, Any]:
    """A token of ``service`` issued with the kiosk's key through the JSON API; its JSON."""
    r = client.post("/api/v1/centres/demo/tokens", headers=bearer(keys["kiosk"]), json={"service": service})
    assert r.status_code == 201
    return r.get_json()  # type: ignore[no-any-return]
