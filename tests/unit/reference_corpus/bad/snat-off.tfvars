# customisation:access_floatingip
# customisation:default
# customisation:neutron_floatingip
# override:manager_boot_from_image
# override:neutron_router_enable_snat
# override:nodes_boot_from_image
router_enable_snat = false
