# Provider: Huawei Cloud
# Values as published by the reference: osism/testbed terraform/environments/huaweicloud.tfvars @ a8a90ccb (2026-07-24).
# Tested: not yet run with scs-testbed.
# Quirks:
#   - External network "admin_external_net" (like OTC, the same platform family).
#   - Boot from volume and an explicit enable_snat on the router (reference overrides).
#   - Availability zone eu-west-101b; 50 GB data volumes; DNS 9.9.9.9.
#   - No availability zone hints on network and router: the reference has no hint overrides
#     for this cloud.
cloud_provider            = "huaweicloud"
flavor_manager            = "s6.2xlarge.2"
flavor_node               = "c6s.4xlarge.2"
image                     = "Ubuntu 24.04 server 64bit"
image_node                = "Ubuntu 24.04 server 64bit"
public                    = "admin_external_net"
availability_zone         = "eu-west-101b"
volume_availability_zone  = "eu-west-101b"
network_availability_zone = null
volume_size_storage       = 50
number_of_volumes         = 3
dns_nameservers           = ["9.9.9.9"]
router_enable_snat        = true
manager_boot_from_volume  = true
node_boot_from_volume     = true
