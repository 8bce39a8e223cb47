"""The notebooks, and `python -m notebooks.refresh`, which reruns them and stores their outputs."""
