# Provider: pluscloud open (plusserver), SCS-compatible
# Values as published by the reference: osism/testbed terraform/environments/pluscloudopen.tfvars @ a8a90ccb (2026-07-24).
# Tested: not yet run with scs-testbed.
# Quirks:
#   - External network "ext01".
#   - No availability zone names are sent (null): the cloud picks them.
#   - The reference uses SCS-8V-16-50 for the nodes: 16 GB nodes were seen running out of memory;
#     raise flavor_node in your own copy if the cloud offers SCS-8V-32-50.
cloud_provider            = "pluscloudopen"
flavor_manager            = "SCS-8V-16-50"
flavor_node               = "SCS-8V-16-50"
image                     = "Ubuntu 24.04"
image_node                = "Ubuntu 24.04"
public                    = "ext01"
availability_zone         = null
volume_availability_zone  = null
network_availability_zone = null
