"""scs-testbed: put a Sovereign Cloud Stack testbed onto any OpenStack cloud."""

__version__ = "0.1.0"
