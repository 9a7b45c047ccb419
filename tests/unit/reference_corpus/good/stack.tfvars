# customisation:access_floatingip
# customisation:default
# customisation:neutron_floatingip
# override:manager_boot_from_image
# override:nodes_boot_from_image
flavor_manager    = "m4"
flavor_node       = "m8"
public            = "wan"
is_zuul           = false
ceph_stack        = "ceph-ansible"
image_user        = "debian"
image_node_user   = "debian"
manager_version   = "latest"
tempest           = true
deploy_mode       = "openstack"
