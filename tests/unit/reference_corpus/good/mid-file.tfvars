# A hand-written file: comments first, directives further down.
# Override:nodes_boot_from_volume
flavor_manager = "m4"
flavor_node    = "m8"
# customisation:default
# customisation:access_floatingip
public         = "wan"
# customisation:neutron_floatingip
# override:manager_boot_from_volume
volume_size_base = 40
