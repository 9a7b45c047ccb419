"""Helpers that run inside the local cloud's venv (neutron, gunicorn), never in the tool."""
