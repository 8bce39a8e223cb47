"""Ekko's inference model state manager: model health, the anomaly detector, the baselines' lagged
copies, and the model states replicated over a majority of manager replicas. Its wiring into a run
is `ekkosim.sync.state_manager`, as it acts through the sync."""
