# Provider: Open Telekom Cloud (OTC)
# Tested: values as published by the SCS/OSISM testbed; not yet run with scs-testbed.
# Quirks:
#   - d2 flavors bring local disks for Ceph: number_of_volumes = 0.
#   - Everything in AZ eu-de-02; the router must send enable_snat.
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
network_availability_zone = "eu-de-02"
dns_nameservers           = ["9.9.9.9"]
volume_size_storage       = 10
number_of_volumes         = 0
router_enable_snat        = true
manager_boot_from_volume  = true
node_boot_from_volume     = true
