"""The `ekko` strategy: Ekko's sync as SimPy processes (trainers writing to the origin, pullers
between servers), and what it wires to them: the inference service, the scheduler, the model state
manager, faults and the invariant checker."""
