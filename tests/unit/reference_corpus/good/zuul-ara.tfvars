# customisation:access_floatingip
# customisation:default
# customisation:neutron_floatingip
# override:manager_boot_from_volume
# override:neutron_availability_zone_hints_network
# override:neutron_availability_zone_hints_router
# override:nodes_boot_from_volume
flavor_manager            = "CI-4V-16"
flavor_node               = "CI-8V-32"
image                     = "Debian 12"
image_node                = "Debian 12"
public                    = "public"
number_of_nodes           = 6
ara                       = false
is_zuul                   = true
