"""Networking: Neutron v2.0 at ``/networking`` (networks, subnets, ports, security groups,
routers, floating IPs, quotas, agents) with ML2-style segments and port binding."""
