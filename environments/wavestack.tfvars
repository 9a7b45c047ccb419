# Provider: Wavestack (noris network), SCS-compatible
# Values as published by the reference: osism/testbed terraform/environments/wavestack.tfvars @ a8a90ccb (2026-07-24).
# Tested: not yet run with scs-testbed.
# Quirks:
#   - External network "external".
#   - No availability zone names are sent (null): the cloud picks them.
cloud_provider            = "wavestack"
flavor_manager            = "SCS-8V-16-50"
flavor_node               = "SCS-8V-32-100"
image                     = "Ubuntu 24.04"
image_node                = "Ubuntu 24.04"
public                    = "external"
availability_zone         = null
volume_availability_zone  = null
network_availability_zone = null
