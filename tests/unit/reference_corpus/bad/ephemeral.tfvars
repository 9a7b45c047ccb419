# customisation:access_floatingip
# customisation:default
# customisation:neutron_floatingip
# override:manager_boot_from_image
# override:nodes_use_ephemeral_storage
number_of_volumes = 0
