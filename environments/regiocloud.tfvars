# Provider: REGIO.cloud (SCS reference cloud operated by OSISM)
# Tested: values as published by the SCS/OSISM testbed; not yet run with scs-testbed.
# Quirks:
#   - SCS standard flavors without local disk: boot from volume (volume type "ssd").
#   - Availability zone "nova" everywhere; AZ hints on network and router are accepted.
cloud_provider            = "regiocloud"
flavor_manager            = "SCS-4V-16"
flavor_node               = "SCS-8V-32"
image                     = "Ubuntu 24.04"
image_node                = "Ubuntu 24.04"
public                    = "public"
volume_type               = "ssd"
availability_zone         = "nova"
volume_availability_zone  = "nova"
network_availability_zone = "nova"
manager_boot_from_volume  = true
node_boot_from_volume     = true
