# Provider: cloudpod (SCS-compatible public cloud)
# Values as published by the reference: osism/testbed terraform/environments/cloudpod.tfvars @ a8a90ccb (2026-07-24).
# Tested: not yet run with scs-testbed.
# Quirks:
#   - SCS standard flavors without local disk: boot from volume (reference: override
#     manager/nodes_boot_from_volume).
#   - Volume type "ssd": the only one this cloud has (osism/testbed b02ecd3b, 2026-04-07,
#     replaced "__DEFAULT__").
#   - Availability zone "nova" everywhere; AZ hints on network and router (reference overrides).
cloud_provider            = "cloudpod"
flavor_manager            = "SCS-4V-16"
flavor_node               = "SCS-8V-32"
volume_type               = "ssd"
image                     = "Ubuntu 24.04"
image_node                = "Ubuntu 24.04"
public                    = "public"
availability_zone         = "nova"
volume_availability_zone  = "nova"
network_availability_zone = "nova"
manager_boot_from_volume  = true
node_boot_from_volume     = true
