# Provider: Huawei Cloud
# Tested: names as published by the SCS/OSISM testbed; not yet run with scs-testbed.
# Quirks:
#   - External network "admin_external_net" (like OTC, the same platform family).
#   - Availability zones are provider specific: none are sent (null).
cloud_provider            = "huaweicloud"
flavor_manager            = "SCS-4V-16-50"
flavor_node               = "SCS-8V-32-50"
image                     = "Ubuntu 24.04 server 64bit"
image_node                = "Ubuntu 24.04 server 64bit"
public                    = "admin_external_net"
availability_zone         = null
volume_availability_zone  = null
network_availability_zone = null
router_enable_snat        = true
