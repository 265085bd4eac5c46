"""Workloads: one module each, a function from options to client + generator + checker."""
