# Provider: artcodix (SCS-compatible public cloud)
# Tested: not yet run with scs-testbed. The external network name is an assumption: check
# `openstack network list --external` and set `public` in your own copy if it differs.
# Quirks:
#   - SCS standard flavors without local disk: boot from volume.
cloud_provider            = "artcodix"
flavor_manager            = "SCS-4V-16"
flavor_node               = "SCS-8V-32"
image                     = "Ubuntu 24.04"
image_node                = "Ubuntu 24.04"
public                    = "public"
availability_zone         = "nova"
volume_availability_zone  = "nova"
network_availability_zone = "nova"
manager_boot_from_volume  = true
node_boot_from_volume     = true
