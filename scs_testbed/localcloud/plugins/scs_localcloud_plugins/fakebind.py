"""ML2 mechanism driver that binds every port on every host without any agent.

The local cloud has no Open vSwitch and no L2 agent, so no stock driver would ever bind a
port and nova would never see it become ACTIVE. This driver claims the first segment it is
offered and marks the port ACTIVE at once. For fake clouds only. When the cloud boots its
servers, it also has floating IPs followed on the host (scs_localcloud_plugins.floating).
"""

from __future__ import annotations

from typing import Any

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class FakeBindMechanismDriver(api.MechanismDriver):
    """Bind any port to an OVS-typed VIF on whatever host nova asks for."""

    def initialize(self) -> None:
        """No agent to talk to; only floating IPs to follow when servers boot."""
        from scs_localcloud_plugins import floating

        floating.subscribe()

    @property
    def connectivity(self) -> str:
        return str(portbindings.CONNECTIVITY_L2)

    def bind_port(self, context: Any) -> None:
        """Bind the first segment offered; the port becomes ACTIVE immediately."""
        vif_details = {portbindings.CAP_PORT_FILTER: True, portbindings.OVS_HYBRID_PLUG: False}
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                portbindings.VIF_TYPE_OVS,
                vif_details,
                status=constants.PORT_STATUS_ACTIVE,
            )
            return
