"""raft-chaos harness: the CLI, the test description, the run loop, generators, history and store.

Data flows one way: a Test (plain data) drives workers and a nemesis against a cluster,
the recorder writes every Op to the store as it happens, checkers turn the history into
verdicts, and reports render them.
"""

__version__ = "0.1.0"
