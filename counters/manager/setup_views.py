"""Administration pages under ``/manage/setup``: centres, the catalogue, services, hours,
counters and work profiles, staff and devices.

Every form calls the same operations as the JSON API (queue_server.operations.setup and
.people), which check who may and name the field they refuse; a refusal re-renders the
page with the message beside that field and changes nothing. A change that would touch
waiting tokens (a work profile, disabling a service, closing a counter, new hours) first
shows which tokens and what becomes of them, and is saved only when confirmed.

Size: one short view per administration form (centre, hours, services, counters, staff,
devices), each around an operation of operations/setup.py or people.py.
"""

from __future__ import annotations

import io
from typing import Any

import qrcode
import qrcode.image.svg
from flask import redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from counters.manager.views import bp, manager, page_context
from queue_server.actors import Actor
from queue_server.api.admin import pairing_url
from queue_server.errors import N_, DomainError, FieldInvalid, Forbidden
from queue_server.http_errors import translate
from queue_server.models import CatalogueService, Centre, Device, Role, Staff
from queue_server.operations import close_counter, people, setup
from queue_server.operations.lookup import centre_for
from queue_server.unit_of_work import current_session, end_reading, run_in_transaction

FATES = {
    "other_counters": N_("served by counters %(counters)s"),
    "no_counter": N_("no other counter serves this service: they wait until one does"),
    "kiosk_stops": N_("the kiosk stops offering it; those waiting are still called by counters %(counters)s"),
}


def fate_text(item: dict[str, Any]) -> str:
    counters = ", ".join(str(n) for n in item["counters"]) or "—"
    if item["fate"] == "kiosk_stops" and not item["counters"]:
        return gettext("the kiosk stops offering it; no counter serves it")
    return gettext(FATES[item["fate"]], counters=counters)


@bp.context_processor
def _setup_helpers() -> dict[str, Any]:
    return {"fate_text": fate_text}


def _centre(actor: Actor, code: str) -> Centre:
    centre = centre_for(current_session(), actor, code[:40])
    setup.require_manages(actor, centre.id)
    return centre


def _render(template: str, actor: Actor, centre: Centre | None, status: int = 200, **kw: Any) -> Any:
    return render_template(template, **page_context(actor, centre, "setup"), **kw), status


def _centre_page(actor: Actor, centre: Centre, status: int = 200, **kw: Any) -> Any:
    s = current_session()
    s.expire_all()
    centre = s.get(Centre, centre.id) or centre
    enabled = {sv.code: sv for sv in centre.services}
    catalogue = s.scalars(select(CatalogueService).order_by(CatalogueService.sort_order)).all()
    staff = s.scalars(select(Staff).where(Staff.centre_id == centre.id).order_by(Staff.username)).all()
    devices = s.scalars(select(Device).where(Device.centre_id == centre.id).order_by(Device.id)).all()
    return _render(
        "manager/setup_centre.html",
        actor,
        centre,
        status,
        info=setup.centre_public(centre),
        enabled=enabled,
        catalogue=catalogue,
        counters=[setup.counter_public(c) for c in centre.counters],
        staff=staff,
        devices=devices,
        is_admin=setup.is_admin(actor),
        weekdays=setup.WEEKDAYS,
        **kw,
    )


def _refused(exc: DomainError) -> dict[str, Any]:
    """A refused value goes back to its form; a refusal of who asks is the refusal page."""
    if exc.status in (401, 403, 404):
        raise exc
    return {"error": translate(exc), "error_field": exc.where if isinstance(exc, FieldInvalid) else ""}


def _form(*names: str) -> dict[str, Any]:
    return {n: request.form.get(n, "") for n in names if n in request.form}


def _qr_svg(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue().decode()


# The index and the catalogue ------------------------------------------------------------------


@bp.get("/setup")
def setup_index() -> Any:
    actor = manager()
    if not setup.is_admin(actor):
        centre = current_session().get(Centre, actor.centre_id)
        if centre is None:
            raise Forbidden(N_("You may not administer this centre."))
        return redirect(url_for("manager.setup_centre", code=centre.code))
    centres = current_session().scalars(select(Centre).order_by(Centre.code)).all()
    return _render("manager/setup_index.html", actor, None, centres=centres)


@bp.post("/setup")
def setup_create_centre() -> Any:
    actor = manager()
    values = _form("name_en", "name_ur", "district", "timezone")
    try:
        centre = run_in_transaction(
            lambda s: setup.create_centre(s, actor, request.form.get("code", ""), values)
        )
    except DomainError as exc:
        centres = current_session().scalars(select(Centre).order_by(Centre.code)).all()
        return _render(
            "manager/setup_index.html", actor, None, 400, centres=centres, form=request.form, **_refused(exc)
        )
    return redirect(url_for("manager.setup_centre", code=centre.code))


@bp.route("/setup/catalogue", methods=["GET", "POST"])
def setup_catalogue() -> Any:
    actor = manager()
    setup.require_admin(actor)
    kw: dict[str, Any] = {}
    status = 200
    if request.method == "POST":
        values: dict[str, Any] = _form(
            "name_en", "name_ur", "group", "prefix", "target_wait_minutes", "turnaround", "fee"
        )
        docs = [line.strip() for line in request.form.get("documents", "").splitlines() if line.strip()]
        values["documents"] = [dict(zip(("en", "ur"), [*d.split("|"), d][:2], strict=True)) for d in docs]
        code = request.form.get("code", "")
        if request.form.get("existing"):  # change only what was typed
            values = {k: v for k, v in values.items() if v not in ("", [])}
        try:
            if request.form.get("existing"):
                run_in_transaction(lambda s: setup.update_catalogue_service(s, actor, code, values))
            else:
                run_in_transaction(lambda s: setup.create_catalogue_service(s, actor, code, values))
            kw["message"] = gettext("Saved.")
        except DomainError as exc:
            kw.update(_refused(exc), form=request.form)
            status = 400
    entries = current_session().scalars(select(CatalogueService).order_by(CatalogueService.sort_order)).all()
    return _render("manager/setup_catalogue.html", actor, None, status, entries=entries, **kw)


# A centre ---------------------------------------------------------------------------------------


@bp.get("/setup/<code>")
def setup_centre(code: str) -> Any:
    actor = manager()
    centre = _centre(actor, code)
    return _centre_page(actor, centre, message=request.args.get("saved") and gettext("Saved."))


def _saved(code: str, anchor: str) -> BaseResponse:
    return redirect(url_for("manager.setup_centre", code=code, saved=1) + f"#{anchor}")


@bp.post("/setup/<code>/details")
def setup_details(code: str) -> Any:
    actor = manager()
    centre = _centre(actor, code)
    names = setup.CENTRE_FIELDS if setup.is_admin(actor) else ("notice_en", "notice_ur", "day_starts_at")
    values = _form(*names)
    try:
        run_in_transaction(lambda s: setup.update_centre(s, actor, s.get_one(Centre, centre.id), values))
    except DomainError as exc:
        return _centre_page(actor, centre, 400, **_refused(exc))
    return _saved(code, "details")


@bp.post("/setup/<code>/hours")
def setup_hours(code: str) -> Any:
    actor = manager()
    centre = _centre(actor, code)
    hours = {day: request.form.get(f"hours_{day}", "closed") for day in setup.WEEKDAYS}
    holidays = []
    for line in request.form.get("holidays", "").splitlines():
        day, _, name = line.strip().partition(" ")
        if day:
            en, _, ur = name.partition("|")
            holidays.append({"day": day, "name_en": en.strip(), "name_ur": ur.strip()})
    values = {"hours": hours, "holidays": holidays}
    try:
        affected = setup.preview_hours_change(current_session(), centre, hours)
        end_reading()
        if affected and not request.form.get("confirm"):
            return _confirm(actor, centre, gettext("New opening hours"), affected)
        run_in_transaction(lambda s: setup.update_centre(s, actor, s.get_one(Centre, centre.id), values))
    except DomainError as exc:
        end_reading()
        return _centre_page(actor, centre, 400, **_refused(exc))
    return _saved(code, "hours")


def _confirm(actor: Actor, centre: Centre, change: str, affected: list[setup.Affected]) -> Any:
    return _render(
        "manager/setup_confirm.html",
        actor,
        centre,
        change=change,
        affected=[a.as_dict() for a in affected],
        fields=[(k, v) for k, v in request.form.items(multi=True) if k not in ("csrf_token", "confirm")],
        action=request.path,
    )


@bp.post("/setup/<code>/services")
def setup_services(code: str) -> Any:
    actor = manager()
    centre = _centre(actor, code)
    setup.require_admin(actor)
    wanted = set(request.form.getlist("enabled"))
    s = current_session()
    current = {sv.code: sv for sv in centre.services}
    leaving = [sv for c, sv in current.items() if sv.is_active and c not in wanted]
    try:
        affected = [a for sv in leaving for a in setup.preview_service_disable(s, centre, sv)]
        end_reading(s)
        if affected and not request.form.get("confirm"):
            return _confirm(actor, centre, gettext("Services the kiosk stops offering"), affected)

        def work(s: Any) -> None:
            here = s.get_one(Centre, centre.id)
            for sv in leaving:
                setup.disable_service(s, actor, here, sv.code)
            for entry_code in sorted(wanted):
                target = request.form.get(f"target_{entry_code}", "").strip()
                overrides = {"target_wait_minutes": target} if target else {}
                existing = current.get(entry_code)
                if existing is None or not existing.is_active:
                    setup.enable_service(s, actor, here, entry_code, overrides)
                own = existing.overrides.get("target_wait_minutes") if existing else None
                if existing is not None and str(own or "") != target:
                    setup.set_service_overrides(
                        s, actor, here, entry_code, {"target_wait_minutes": target or None}
                    )

        run_in_transaction(work)
    except DomainError as exc:
        end_reading(s)
        return _centre_page(actor, centre, 400, **_refused(exc))
    return _saved(code, "services")


# Counters ----------------------------------------------------------------------------------------


@bp.post("/setup/<code>/counters")
def setup_new_counter(code: str) -> Any:
    actor = manager()
    centre = _centre(actor, code)
    profile = {
        sv.code: request.form[f"weight_{sv.code}"]
        for sv in centre.services
        if request.form.get(f"weight_{sv.code}", "0").strip() not in ("", "0")
    }
    values = {**_form("name", "zone"), "profile": profile}
    try:
        run_in_transaction(
            lambda s: setup.create_counter(
                s, actor, s.get_one(Centre, centre.id), request.form.get("number", ""), values
            )
        )
    except DomainError as exc:
        return _centre_page(actor, centre, 400, **_refused(exc))
    return _saved(code, "counters")


@bp.route("/setup/<code>/counters/<int:number>", methods=["GET", "POST"])
def setup_counter(code: str, number: int) -> Any:
    actor = manager()
    centre = _centre(actor, code)
    s = current_session()
    counter = setup.counter_of(s, centre, number)
    kw: dict[str, Any] = {}
    status = 200
    if request.method == "POST":
        try:
            if request.form.get("action") == "close":
                affected = setup.preview_counter_close(s, centre, counter)
                end_reading(s)
                if affected and not request.form.get("confirm"):
                    return _confirm(
                        actor, centre, gettext("Close counter %(number)s", number=number), affected
                    )
                run_in_transaction(lambda s: close_counter(s, counter.id, actor))
            else:
                profile = {
                    sv.code: request.form[f"weight_{sv.code}"]
                    for sv in centre.services
                    if request.form.get(f"weight_{sv.code}", "0").strip() not in ("", "0")
                }
                affected = setup.preview_profile_change(s, centre, counter, profile)
                end_reading(s)
                if affected and not request.form.get("confirm"):
                    return _confirm(
                        actor,
                        centre,
                        gettext("New work profile of counter %(number)s", number=number),
                        affected,
                    )
                values = {**_form("name", "zone"), "profile": profile}
                run_in_transaction(
                    lambda s: setup.update_counter(s, actor, s.get_one(Centre, centre.id), number, values)
                )
            return _saved(code, "counters")
        except DomainError as exc:
            end_reading(s)
            kw.update(_refused(exc))
            status = 400
    s.expire_all()
    counter = setup.counter_of(s, centre, number)
    return _render(
        "manager/setup_counter.html",
        actor,
        centre,
        status,
        counter=setup.counter_public(counter),
        services=list(centre.services),
        form=request.form if request.method == "POST" else None,
        **kw,
    )


# Staff and devices ----------------------------------------------------------------------------


@bp.post("/setup/<code>/staff")
def setup_new_staff(code: str) -> Any:
    actor = manager()
    centre = _centre(actor, code)
    try:
        staff, secret = run_in_transaction(
            lambda s: people.create_staff(
                s,
                actor,
                username=request.form.get("username", ""),
                role=request.form.get("role", Role.CLERK.value),
                centre=s.get(Centre, centre.id),
                full_name=request.form.get("full_name", ""),
                password=request.form.get("password") or None,
            )
        )
    except DomainError as exc:
        return _centre_page(actor, centre, 400, **_refused(exc))
    return _render(
        "manager/setup_secret.html",
        actor,
        centre,
        title=gettext("Account created"),
        who=staff.username,
        secret=secret.value if secret else None,
        secret_label=gettext("Password"),
    )


@bp.post("/setup/staff/<int:staff_id>")
def setup_staff(staff_id: int) -> Any:
    actor = manager()
    s = current_session()
    staff = people.staff_member(s, actor, staff_id)
    centre = s.get(Centre, staff.centre_id) if staff.centre_id else None
    if centre is None:
        raise Forbidden(N_("Only a province administrator may do this."))
    action = request.form.get("action", "")
    try:
        if action == "password":
            secret = run_in_transaction(lambda s: people.reset_password(s, actor, s.get_one(Staff, staff_id)))
            assert secret is not None
            return _render(
                "manager/setup_secret.html",
                actor,
                centre,
                title=gettext("New password"),
                who=staff.username,
                secret=secret.value,
                secret_label=gettext("Password"),
            )
        if action == "key":
            _key, secret = run_in_transaction(
                lambda s: people.issue_api_key(
                    s, actor, s.get_one(Staff, staff_id), request.form.get("label", "")
                )
            )
            return _render(
                "manager/setup_secret.html",
                actor,
                centre,
                title=gettext("New API key"),
                who=staff.username,
                secret=secret.value,
                secret_label=gettext("API key"),
            )
        if action == "revoke_key":
            key_id = int(request.form.get("key_id", "0") or 0)
            run_in_transaction(lambda s: people.revoke_api_key(s, actor, s.get_one(Staff, staff_id), key_id))
        elif action in ("deactivate", "activate"):
            run_in_transaction(
                lambda s: people.update_staff(
                    s, actor, s.get_one(Staff, staff_id), {"is_active": action == "activate"}
                )
            )
        elif action == "role":
            role = request.form.get("role", "")
            run_in_transaction(
                lambda s: people.update_staff(s, actor, s.get_one(Staff, staff_id), {"role": role})
            )
    except DomainError as exc:
        end_reading(s)
        return _centre_page(actor, centre, 400, **_refused(exc))
    return _saved(centre.code, "staff")


def _printer_form() -> dict[str, Any]:
    kind = request.form.get("printer_kind", "none") or "none"
    printer: dict[str, Any] = {"kind": kind}
    for name in ("host", "profile", "path"):
        value = request.form.get(f"printer_{name}", "").strip()
        if value:
            printer[name] = value
    return printer


def _device_secret(actor: Actor, centre: Centre, device: Device, key: str, title: str) -> Any:
    link = pairing_url(centre, device, key)
    return _render(
        "manager/setup_secret.html",
        actor,
        centre,
        title=title,
        who=device.name,
        secret=key,
        secret_label=gettext("Device key"),
        pairing=link,
        qr=_qr_svg(link),
    )


@bp.post("/setup/<code>/devices")
def setup_new_device(code: str) -> Any:
    actor = manager()
    centre = _centre(actor, code)
    kind = request.form.get("kind", "")
    try:
        device, secret = run_in_transaction(
            lambda s: people.register_device(
                s,
                actor,
                s.get_one(Centre, centre.id),
                name=request.form.get("name", ""),
                kind=kind,
                printer=_printer_form() if kind == "kiosk" else None,
            )
        )
    except DomainError as exc:
        return _centre_page(actor, centre, 400, **_refused(exc))
    return _device_secret(actor, centre, device, secret.value, gettext("Device registered"))


@bp.post("/setup/devices/<int:device_id>")
def setup_device(device_id: int) -> Any:
    actor = manager()
    s = current_session()
    device = people.device_of(s, actor, device_id)
    centre = s.get(Centre, device.centre_id)
    assert centre is not None
    action = request.form.get("action", "")
    try:
        if action == "rotate":
            secret = run_in_transaction(
                lambda s: people.rotate_device_key(s, actor, s.get_one(Device, device_id))
            )
            return _device_secret(actor, centre, device, secret.value, gettext("New device key"))
        if action == "revoke":
            run_in_transaction(lambda s: people.revoke_device(s, actor, s.get_one(Device, device_id)))
        elif action == "printer":
            run_in_transaction(
                lambda s: people.update_device(
                    s, actor, s.get_one(Device, device_id), {"printer": _printer_form()}
                )
            )
    except DomainError as exc:
        end_reading(s)
        return _centre_page(actor, centre, 400, **_refused(exc))
    return _saved(centre.code, "devices")
