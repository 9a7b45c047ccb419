resource "openstack_networking_secgroup_v2" "group" {
  for_each = local.groups

  name        = "${var.prefix}-${each.key}"
  description = each.value.description
}

resource "openstack_networking_secgroup_rule_v2" "rule" {
  for_each = local.security_rules

  security_group_id = openstack_networking_secgroup_v2.group[each.value.group].id
  description       = each.value.description
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = each.value.protocol
  port_range_min    = each.value.port_min
  port_range_max    = each.value.port_max
  remote_ip_prefix  = each.value.cidr
}
