# customisation:access_floatingip
# customisation:default
# customisation:external_api
# customisation:neutron_floatingip
# override:manager_boot_from_image
# override:neutron_router_enable_snat
# override:nodes_boot_from_volume
cloud_provider    = "my-entry"
flavor_node       = "n8"
flavor_manager    = "n4"
public            = "outside"
availability_zone = null
number_of_nodes   = 4
external_api      = true
