"""The network: a flow-level model (max-min fair sharing), the topology, congestion and background traffic."""
