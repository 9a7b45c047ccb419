data "openstack_images_image_v2" "manager" {
  name        = var.image
  most_recent = true
}

data "openstack_images_image_v2" "node" {
  name        = var.image_node
  most_recent = true
}

resource "openstack_compute_keypair_v2" "key" {
  name       = "${var.prefix}-key"
  public_key = var.public_key

  lifecycle {
    precondition {
      condition     = var.public_key != null
      error_message = "public_key is required: without it the provider would generate a private key and keep it in the state. scs-testbed sets it from the testbed's own key pair."
    }
  }
}

resource "openstack_compute_instance_v2" "manager" {
  name              = "${var.prefix}-manager"
  flavor_name       = var.flavor_manager
  image_id          = var.manager_boot_from_volume ? null : data.openstack_images_image_v2.manager.id
  key_pair          = openstack_compute_keypair_v2.key.name
  availability_zone = var.availability_zone
  config_drive      = var.enable_config_drive
  user_data = templatefile("${local.bootstrap_dir}/manager.yaml.tftpl", {
    prefix                      = var.prefix
    image_user                  = var.image_user
    public_key                  = var.public_key
    manager_ip                  = local.manager_ip
    manager_public_ip           = openstack_networking_floatingip_v2.manager.address
    number_of_nodes             = var.number_of_nodes
    tempest                     = var.tempest
    ara                         = var.ara
    external_api                = var.external_api
    apt_proxy                   = var.apt_proxy
    apt_mirror                  = var.apt_mirror
    pypi_index_url              = var.pypi_index_url
    ansible_galaxy_server       = var.ansible_galaxy_server
    collections_repository_base = var.collections_repository_base
    container_registry_mirror   = var.container_registry_mirror
    node_ips                    = local.node_ips
    management_cidr             = var.management_cidr
    configuration_repository    = var.configuration_repository
    configuration_version       = var.configuration_version
    manager_version             = var.manager_version
    ceph_version                = var.ceph_version
    openstack_version           = var.openstack_version
    deploy_mode                 = var.deploy_mode
    image_node_user             = var.image_node_user
    files = {
      for f in fileset(local.bootstrap_dir, "{common,manager}/**") : f => file("${local.bootstrap_dir}/${f}")
    }
  })

  network {
    port = openstack_networking_port_v2.manager.id
  }

  dynamic "block_device" {
    for_each = var.manager_boot_from_volume ? [1] : []
    content {
      uuid                  = data.openstack_images_image_v2.manager.id
      source_type           = "image"
      destination_type      = "volume"
      volume_size           = var.volume_size_base
      volume_type           = var.volume_type
      boot_index            = 0
      delete_on_termination = true
    }
  }

  lifecycle {
    ignore_changes = [image_id, user_data]

    precondition {
      condition     = length(local.release.ceph) == 0 || contains(local.release.ceph, var.ceph_version)
      error_message = "ceph_version ${var.ceph_version} does not exist for manager_version ${var.manager_version} in osism/release (it has ${join(", ", local.release.ceph)}); see terraform/versions.json."
    }
    precondition {
      condition     = length(local.release.openstack) == 0 || contains(local.release.openstack, var.openstack_version)
      error_message = "openstack_version ${var.openstack_version} does not exist for manager_version ${var.manager_version} in osism/release (it has ${join(", ", local.release.openstack)}); see terraform/versions.json."
    }
  }
}

resource "openstack_compute_instance_v2" "node" {
  count = var.number_of_nodes

  name              = "${var.prefix}-node-${count.index}"
  flavor_name       = var.flavor_node
  image_id          = var.node_boot_from_volume ? null : data.openstack_images_image_v2.node.id
  key_pair          = openstack_compute_keypair_v2.key.name
  availability_zone = var.availability_zone
  config_drive      = var.enable_config_drive
  user_data = templatefile("${local.bootstrap_dir}/node.yaml.tftpl", {
    prefix     = var.prefix
    hostname   = "${var.prefix}-node-${count.index}"
    image_user = var.image_node_user
    public_key = var.public_key
    manager_ip = local.manager_ip
    apt_proxy  = var.apt_proxy
    apt_mirror = var.apt_mirror
    files = {
      for f in fileset(local.bootstrap_dir, "{common,node}/**") : f => file("${local.bootstrap_dir}/${f}")
    }
  })

  network {
    port = openstack_networking_port_v2.node[count.index].id
  }

  dynamic "block_device" {
    for_each = var.node_boot_from_volume ? [1] : []
    content {
      uuid                  = data.openstack_images_image_v2.node.id
      source_type           = "image"
      destination_type      = "volume"
      volume_size           = var.volume_size_base
      volume_type           = var.volume_type
      boot_index            = 0
      delete_on_termination = true
    }
  }

  lifecycle {
    ignore_changes = [image_id, user_data]
  }
}
