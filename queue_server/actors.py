"""Who is asking: staff, a device, the system (CLI, end of day) or a citizen. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from queue_server.states import DeviceKind, Role, is_province_admin


@dataclass(frozen=True)
class Actor:
    kind: str  # "staff" | "device" | "system" | "citizen"
    id: int | None = None
    role: Role | None = None
    centre_id: int | None = None  # None: province-wide admin or the system
    device_kind: DeviceKind | None = None
    name: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id}" if self.id is not None else self.kind

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"

    @property
    def is_manager(self) -> bool:
        """Managers and admins: may oversee a whole centre."""
        return self.kind == "system" or self.role in (Role.MANAGER, Role.ADMIN)

    @property
    def is_province_admin(self) -> bool:
        return self.kind == "staff" and is_province_admin(self.role, self.centre_id)

    def may_act_in(self, centre_id: int) -> bool:
        if self.kind == "system" or self.is_province_admin:
            return True
        return self.centre_id == centre_id


SYSTEM = Actor("system", name="system")
