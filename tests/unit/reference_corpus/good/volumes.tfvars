# customisation:access_floatingip
# customisation:default
# customisation:neutron_floatingip
# override:manager_boot_from_volume
# override:neutron_availability_zone_hints_network
# override:neutron_availability_zone_hints_router
# override:nodes_boot_from_volume
flavor_manager            = "ACME-4-16"
flavor_node               = "ACME-8-32"
volume_type               = "fast"
image                     = "Ubuntu 24.04"
image_node                = "Ubuntu 24.04"
public                    = "internet"
availability_zone         = "zone-a"
volume_availability_zone  = "zone-a"
network_availability_zone = "zone-n"
