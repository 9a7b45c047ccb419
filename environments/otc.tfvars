# Provider: Open Telekom Cloud (OTC)
# Tested: values as published by the SCS/OSISM testbed; not yet run with scs-testbed.
# Quirks:
#   - d2 flavors bring local disks for Ceph: number_of_volumes = 0.
#   - Servers and volumes in AZ eu-de-02, no AZ hints on network and router (as the
#     reference: osism/testbed terraform/environments/otc.tfvars @ a8a90ccb has no hint
#     overrides); the router must send enable_snat.
#   - The reference also opens the OpenStack APIs on the floating IP (external_api); here
#     that stays off unless asked for (-o external_api=true): it exposes 16 API ports.
#   - Boot from volume; API rate limits (run Terraform with low parallelism).
#   - No nested virtualisation: nova inside the testbed falls back to qemu (slow).
cloud_provider            = "otc"
flavor_manager            = "d2.xlarge.8"
flavor_node               = "d2.4xlarge.8"
image                     = "Standard_Ubuntu_24.04_latest"
image_node                = "Standard_Ubuntu_24.04_latest"
public                    = "admin_external_net"
availability_zone         = "eu-de-02"
volume_availability_zone  = "eu-de-02"
network_availability_zone = null
dns_nameservers           = ["9.9.9.9"]
volume_size_storage       = 10
number_of_volumes         = 0
router_enable_snat        = true
manager_boot_from_volume  = true
node_boot_from_volume     = true
