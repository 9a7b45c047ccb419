# Provider: Cleura (formerly City Cloud)
# Values as published by the reference: osism/testbed terraform/environments/cleura.tfvars @ a8a90ccb (2026-07-24).
# Tested: not yet run with scs-testbed.
# Quirks:
#   - External network "ext-net"; image names carry the release name.
#   - Flavors with local disks (8C-32GB-150GB / 4C-8GB-50GB): boot from image.
#   - AZ nova for servers and volumes, and as hint on network and router (reference overrides).
#   - The manager flavor has 8 GB: the minimum; 8 GB managers were seen overloaded.
cloud_provider            = "cleura"
flavor_manager            = "4C-8GB-50GB"
flavor_node               = "8C-32GB-150GB"
image                     = "Ubuntu 24.04 Noble Numbat x86_64"
image_node                = "Ubuntu 24.04 Noble Numbat x86_64"
public                    = "ext-net"
availability_zone         = "nova"
volume_availability_zone  = "nova"
network_availability_zone = "nova"
volume_size_storage       = 10
