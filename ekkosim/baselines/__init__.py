"""Strategies that move whole models: offline broadcast, chain replication, central push."""
