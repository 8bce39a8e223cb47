"""A model's health, as the model state manager names it: healthy, uncertain, damaged.

The detector reports one of them as its level (`ekkosim.manager.detector`), and the replicated
state machine holds one per model (`ekkosim.manager.replicated`); the manager acts on the
committed state (docs/manager.md).
"""

HEALTHY, UNCERTAIN, DAMAGED = "healthy", "uncertain", "damaged"
STATES = (HEALTHY, UNCERTAIN, DAMAGED)
