"""Ekko's inference model state manager: model states, replicated over a majority of manager replicas."""
