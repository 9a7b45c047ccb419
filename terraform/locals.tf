locals {
  # Address plan of the SCS testbed: manager .5, node-N .10+N, VIPs .8/.9 (internal API)
  # and .254 (external API); DHCP only hands out the top of the range.
  manager_ip = cidrhost(var.management_cidr, 5)
  node_ips   = [for i in range(var.number_of_nodes) : cidrhost(var.management_cidr, 10 + i)]
  vip_ips    = [cidrhost(var.management_cidr, 8), cidrhost(var.management_cidr, 9), cidrhost(var.management_cidr, 254)]

  port_security_off = var.port_security_enabled == false
  bootstrap_dir     = "${path.module}/../bootstrap"

  # Security groups and rules come from one data file that scs-testbed's preflight reads too.
  security = jsondecode(file("${path.module}/security_groups.json"))
  # A group with "when" exists only while that variable is true (the external API ports).
  switches = { external_api = var.external_api }
  groups = {
    for name, group in local.security.groups : name => group
    if try(local.switches[group.when], true)
  }
  remote_cidrs = {
    ssh        = var.allowed_ssh_cidrs
    management = [var.management_cidr]
    any        = ["0.0.0.0/0"]
  }
  security_rules = merge([
    for group_name, group in local.groups : merge([
      for index, rule in group.rules : {
        for cidr in local.remote_cidrs[rule.remote] :
        "${group_name}/${index}/${cidr}" => {
          group       = group_name
          description = rule.description
          protocol    = rule.protocol
          port_min    = try(rule.port, null)
          port_max    = try(rule.port_max, rule.port, null)
          cidr        = cidr
        }
      }
    ]...)
  ]...)
  groups_of = {
    manager = [for name, group in local.groups : name if contains(group.applies_to, "manager")]
    node    = [for name, group in local.groups : name if contains(group.applies_to, "node")]
  }

  # Data volumes (Ceph OSDs) as in the reference (terraform-base testbed-default/customisations/
  # default_custom.tf): on all three nodes of a 3-node testbed, otherwise only on the
  # resource nodes 3..N-1 (the control nodes 0..2 carry no OSDs then).
  nodes_with_volumes = var.number_of_nodes <= 3 ? range(var.number_of_nodes) : range(3, var.number_of_nodes)
  volume_attachments = {
    for pair in setproduct(local.nodes_with_volumes, range(var.number_of_volumes)) :
    "${pair[0]}-${pair[1]}" => { node = pair[0], volume = pair[1] }
  }

  # What osism/release has for the chosen manager version (versions.json)
  release = jsondecode(file("${path.module}/versions.json")).releases[var.manager_version]
}
