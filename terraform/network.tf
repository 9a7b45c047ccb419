data "openstack_networking_network_v2" "public" {
  name     = var.public
  external = true
}

resource "openstack_networking_network_v2" "management" {
  name                    = "${var.prefix}-management"
  admin_state_up          = true
  mtu                     = var.mtu
  port_security_enabled   = var.port_security_enabled
  availability_zone_hints = var.network_availability_zone == null ? null : [var.network_availability_zone]
}

resource "openstack_networking_subnet_v2" "management" {
  name            = "${var.prefix}-management"
  network_id      = openstack_networking_network_v2.management.id
  cidr            = var.management_cidr
  ip_version      = 4
  dns_nameservers = var.dns_nameservers

  allocation_pool {
    start = cidrhost(var.management_cidr, -56)
    end   = cidrhost(var.management_cidr, -6)
  }
}

resource "openstack_networking_router_v2" "router" {
  name                    = "${var.prefix}-router"
  external_network_id     = data.openstack_networking_network_v2.public.id
  enable_snat             = var.router_enable_snat
  availability_zone_hints = var.network_availability_zone == null ? null : [var.network_availability_zone]
}

resource "openstack_networking_router_interface_v2" "management" {
  router_id = openstack_networking_router_v2.router.id
  subnet_id = openstack_networking_subnet_v2.management.id
}

resource "openstack_networking_port_v2" "manager" {
  name                  = "${var.prefix}-manager"
  network_id            = openstack_networking_network_v2.management.id
  port_security_enabled = var.port_security_enabled
  security_group_ids    = local.port_security_off ? null : [for g in local.groups_of.manager : openstack_networking_secgroup_v2.group[g].id]
  no_security_groups    = local.port_security_off ? true : null

  fixed_ip {
    subnet_id  = openstack_networking_subnet_v2.management.id
    ip_address = local.manager_ip
  }
}

resource "openstack_networking_port_v2" "node" {
  count = var.number_of_nodes

  name                  = "${var.prefix}-node-${count.index}"
  network_id            = openstack_networking_network_v2.management.id
  port_security_enabled = var.port_security_enabled
  security_group_ids    = local.port_security_off ? null : [for g in local.groups_of.node : openstack_networking_secgroup_v2.group[g].id]
  no_security_groups    = local.port_security_off ? true : null

  fixed_ip {
    subnet_id  = openstack_networking_subnet_v2.management.id
    ip_address = local.node_ips[count.index]
  }

  dynamic "allowed_address_pairs" {
    for_each = local.port_security_off ? [] : local.vip_ips
    content {
      ip_address = allowed_address_pairs.value
    }
  }
}

# The address is allocated at once (the manager's user_data carries it, so the manager need
# not wait for the router); it is bound to the manager's port by its own resource below.
resource "openstack_networking_floatingip_v2" "manager" {
  pool        = var.public
  description = "${var.prefix}-manager"
}

resource "openstack_networking_floatingip_associate_v2" "manager" {
  floating_ip = openstack_networking_floatingip_v2.manager.address
  port_id     = openstack_networking_port_v2.manager.id

  # A floating IP can only be bound once the subnet is routed to the external network.
  depends_on = [openstack_networking_router_interface_v2.management]
}
