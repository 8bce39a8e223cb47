"""Ekko's sync as SimPy processes: trainers writing to the origin, pullers between servers."""
