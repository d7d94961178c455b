"""Neutron's model and its SQL: networks, segments, subnets, IPAM, ports, security groups, routers,
floating IPs, RBAC, subnet pools, quotas, agents."""
