"""Results: the run folder, its tables and its summary."""
