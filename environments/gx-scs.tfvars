# Provider: gx-scs (the SCS project's own test cloud, operated by plusserver)
# Values as published by the reference: osism/testbed terraform/environments/gx-scs.tfvars @ a8a90ccb (2026-07-24),
# external network "ext01" included.
# Tested: not yet run with scs-testbed.
# Quirks:
#   - SCS standard flavors and image names.
cloud_provider            = "gx-scs"
flavor_manager            = "SCS-4V-16-50"
flavor_node               = "SCS-8V-32-50"
image                     = "Ubuntu 24.04"
image_node                = "Ubuntu 24.04"
public                    = "ext01"
availability_zone         = "nova"
volume_availability_zone  = "nova"
network_availability_zone = null
