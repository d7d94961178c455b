"""The network agents of one host (L2, DHCP, L3, metadata proxy): they keep the kernel equal
to the part of the networking model their host serves, which they ask for over the bus
(``network.rpc``, :mod:`.rpc`); change hints on ``network.changes`` make them look sooner."""
