# Provider: Wavestack (noris network), SCS-compatible
# Tested: not yet run with scs-testbed. The external network name is an assumption: check
# `openstack network list --external` and set `public` in your own copy if it differs.
# Quirks:
#   - No availability zone names are sent (null): the cloud picks them.
cloud_provider            = "wavestack"
flavor_manager            = "SCS-4V-16-50"
flavor_node               = "SCS-8V-32-50"
image                     = "Ubuntu 24.04"
image_node                = "Ubuntu 24.04"
public                    = "provider"
availability_zone         = null
volume_availability_zone  = null
network_availability_zone = null
