#customisation:default
# customisation:   access_floatingip neutron_floatingip
# override: manager_boot_from_image nodes_boot_from_image
#override:neutron_router_enable_snat
availability_zone         = "eu-x-1"
volume_availability_zone  = "eu-x-1"
network_availability_zone = "eu-x-1"
flavor_node               = "c8.large"
flavor_manager            = "c4.medium"
public                    = "ext_net"
dns_nameservers           = ["192.0.2.53"]
volume_size_storage       = "10"
number_of_volumes         = "0"
