"""Chaos and consistency tooling for the local cluster.

`history` records operations and their outcomes, `workload` sends them, `nemesis` injects faults
on a seeded schedule, `checkers` judge the history, `report` draws it, `run` ties one run
together, and `python -m compose.chaos` (`just chaos`) is the command line.
"""
