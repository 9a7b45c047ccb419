# Provider: OVHcloud Public Cloud
# Values as published by the reference: osism/testbed terraform/environments/ovh.tfvars @ a8a90ccb (2026-07-24).
# Tested: not yet run with scs-testbed.
# Quirks:
#   - Private networks need vRack enabled on the project.
#   - Network creation fails transiently with "Can not get vracks for tenant ... from DB!";
#     scs-testbed retries it.
#   - Port security must not be sent (null).
cloud_provider            = "ovh"
flavor_manager            = "s1-8"
flavor_node               = "c2-15"
image                     = "Ubuntu 24.04"
image_node                = "Ubuntu 24.04"
public                    = "Ext-Net"
availability_zone         = "nova"
volume_availability_zone  = "nova"
network_availability_zone = null
port_security_enabled     = null
volume_size_storage       = 10
