# Provider: the local cloud of `scs-testbed localcloud up` (real OpenStack APIs, fake back-ends)
# Tested: by the test suite's localcloud tier on every CI run.
# Quirks:
#   - VMs do not boot (nova's fake driver): the in-VM bootstrap never runs here; use it for
#     check / deploy / status / destroy of the Terraform side only.
#   - No L3 agent: the floating IP stays DOWN, which the provider accepts.
#   - Smaller flavors than a real testbed so the default quotas hold several testbeds.
cloud_provider            = "localcloud"
flavor_manager            = "SCS-4V-16-50"
flavor_node               = "SCS-8V-32-50"
image                     = "Ubuntu 24.04"
image_node                = "Ubuntu 24.04"
public                    = "public"
availability_zone         = "nova"
volume_availability_zone  = "nova"
network_availability_zone = null
dns_nameservers           = ["192.0.2.53"]
enable_config_drive       = false
volume_type               = "ssd"
