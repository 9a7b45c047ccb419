# Provider: Betacloud (historic; the cloud the testbed was first written for)
# Tested: historic values of the SCS/OSISM testbed; the cloud may no longer exist.
# Quirks:
#   - SCS-style flavor names with local disks; AZ "south-2" style names were used: set yours.
cloud_provider            = "betacloud"
flavor_manager            = "SCS-4V-16-50"
flavor_node               = "SCS-8V-32-50"
image                     = "Ubuntu 24.04"
image_node                = "Ubuntu 24.04"
public                    = "external"
availability_zone         = "nova"
volume_availability_zone  = "nova"
network_availability_zone = "nova"
