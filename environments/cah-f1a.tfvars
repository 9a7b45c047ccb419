# Provider: Cloud&Heat, public cloud region f1a
# Values as published by the reference: osism/testbed terraform/environments/cah-f1a.tfvars @ a8a90ccb (2026-07-24).
# Tested: not yet run with scs-testbed.
# Quirks:
#   - The reference's clouds-public.yaml (terraform/clouds-public.yaml:34) names the profile
#     "cloudandheat-f1a" (identity-f1a.cloudandheat.com, region f1a); cloud_provider names the
#     clouds.yaml entry, called "cah-f1a" here as in the reference.
#   - One flavor "XL.mem+" for manager and nodes, with its own disk: boot from image.
#   - Servers in AZ "AZ2", volumes in "nova"; no availability zone hints on network and router
#     (the reference has no hint overrides for this cloud).
#   - External network "shared-public-IPv4"; image "Ubuntu 24.04 LTS x64".
cloud_provider            = "cah-f1a"
flavor_manager            = "XL.mem+"
flavor_node               = "XL.mem+"
image                     = "Ubuntu 24.04 LTS x64"
image_node                = "Ubuntu 24.04 LTS x64"
public                    = "shared-public-IPv4"
availability_zone         = "AZ2"
volume_availability_zone  = "nova"
network_availability_zone = null
