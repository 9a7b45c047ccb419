resource "openstack_blockstorage_volume_v3" "data" {
  for_each = local.volume_attachments

  name              = "${var.prefix}-node-${each.value.node}-data-${each.value.volume}"
  size              = var.volume_size_storage
  volume_type       = var.volume_type
  availability_zone = var.volume_availability_zone
}

resource "openstack_compute_volume_attach_v2" "data" {
  for_each = local.volume_attachments

  instance_id = openstack_compute_instance_v2.node[each.value.node].id
  volume_id   = openstack_blockstorage_volume_v3.data[each.key].id
}
