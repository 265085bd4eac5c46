"""Nemeses: the faults a chaos test injects, applied through the cluster interface."""
