# customisation:access_ipv6
# customisation:default
# customisation:neutron_floatingip
# override:manager_boot_from_image
# override:nodes_boot_from_image
