# Provider: Cleura (formerly City Cloud)
# Tested: names as published by the SCS/OSISM testbed; not yet run with scs-testbed.
# Quirks:
#   - External network "ext-net"; image names carry the release name.
#   - Flavors with local disks: no boot from volume needed.
cloud_provider            = "cleura"
flavor_manager            = "SCS-4V-16-50"
flavor_node               = "SCS-8V-32-50"
image                     = "Ubuntu 24.04 Noble Numbat x86_64"
image_node                = "Ubuntu 24.04 Noble Numbat x86_64"
public                    = "ext-net"
availability_zone         = "nova"
volume_availability_zone  = "nova"
network_availability_zone = null
