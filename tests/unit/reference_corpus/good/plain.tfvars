# Our own kind of file: no directives, no cloud_provider.
flavor_manager            = "m4"
flavor_node               = "m8"
network_availability_zone = "nova"
