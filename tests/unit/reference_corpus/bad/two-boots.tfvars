# customisation:access_floatingip
# customisation:default
# customisation:neutron_floatingip
# override:manager_boot_from_volume
# override:nodes_boot_from_image
# override:nodes_boot_from_volume
