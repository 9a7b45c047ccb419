# Provider: artcodix (SCS-compatible public cloud)
# Values as published by the reference: osism/testbed terraform/environments/artcodix.tfvars @ a8a90ccb (2026-07-24).
# Tested: not yet run with scs-testbed.
# Quirks:
#   - SCS standard flavors without local disk: boot from volume (reference: override manager/nodes_boot_from_volume).
#   - Availability zone AZ1 for compute and volumes; volume type "SSD Premium 5000".
#   - No availability zone hints on network and router: the reference has no hint overrides
#     for this cloud (its network_availability_zone "AZ1" is unused there).
cloud_provider            = "artcodix"
flavor_manager            = "SCS-4V-16"
flavor_node               = "SCS-8V-32"
volume_type               = "SSD Premium 5000"
image                     = "Ubuntu 24.04"
image_node                = "Ubuntu 24.04"
public                    = "public"
availability_zone         = "AZ1"
volume_availability_zone  = "AZ1"
network_availability_zone = null
manager_boot_from_volume  = true
node_boot_from_volume     = true
