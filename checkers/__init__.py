"""Checkers: pure functions from a history to a verdict.

A checker never talks to a cluster. Verdicts are three-valued (``True``, ``False``,
``"unknown"``) and merge with false ranked above unknown above true.
"""
