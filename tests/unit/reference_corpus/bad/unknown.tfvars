# customisation:access_floatingip
# customisation:default
# customisation:neutron_floatingip
# override:manager_boot_from_floppy
# override:nodes_boot_from_image
public = "wan"
