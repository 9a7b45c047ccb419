output "manager_address" {
  description = "Floating IP of the manager: the testbed's only public address."
  value       = openstack_networking_floatingip_v2.manager.address
}

output "manager_internal_address" {
  description = "Address of the manager on the management network."
  value       = local.manager_ip
}

output "node_addresses" {
  description = "Addresses of the nodes on the management network, node-0 first."
  value       = local.node_ips
}

output "vip_addresses" {
  description = "Virtual IPs held by keepalived on the nodes: internal API, internal, external API."
  value       = local.vip_ips
}

output "prefix" {
  description = "Prefix carried by every resource name of this testbed."
  value       = var.prefix
}

output "image_user" {
  description = "Login user of the manager."
  value       = var.image_user
}

output "image_node_user" {
  description = "Login user of the nodes."
  value       = var.image_node_user
}

output "networks" {
  description = "Networks of the testbed (for the tunnel)."
  value = {
    management = {
      id   = openstack_networking_network_v2.management.id
      cidr = var.management_cidr
    }
  }
}

output "servers" {
  description = "Server IDs by role."
  value = {
    manager = openstack_compute_instance_v2.manager.id
    nodes   = openstack_compute_instance_v2.node[*].id
  }
}
