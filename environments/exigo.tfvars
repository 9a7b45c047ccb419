# Provider: exigo (SCS-compatible public cloud, Chur)
# Values as published by the reference: osism/testbed terraform/environments/exigo.tfvars @ a8a90ccb (2026-07-24).
# Tested: not yet run with scs-testbed.
# Quirks:
#   - SCS standard flavors without local disk: boot from volume (reference: override
#     manager/nodes_boot_from_volume); volume type "__DEFAULT__".
#   - Servers and volumes in AZ "chur", while the network AZ hint on network and router is
#     "nova" (reference overrides).
#   - External network "PN-231".
#   - Six nodes with 100 GB data volumes, as the reference's file sets them.
cloud_provider            = "exigo"
flavor_manager            = "SCS-4V-16"
flavor_node               = "SCS-8V-32"
volume_type               = "__DEFAULT__"
image                     = "Ubuntu 24.04"
image_node                = "Ubuntu 24.04"
public                    = "PN-231"
availability_zone         = "chur"
volume_availability_zone  = "chur"
network_availability_zone = "nova"
volume_size_storage       = 100
number_of_nodes           = 6
manager_boot_from_volume  = true
node_boot_from_volume     = true
