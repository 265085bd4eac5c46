"""Clusters: the nodes under test and what can be done to them, behind one interface.

Backends (``docker``, ``local``, ``ssh``) implement :class:`cluster.base.Cluster`; the
runner and the nemesis never care which one is in use. ``node/`` holds raftkv, the
Rust Raft/RocksDB node the harness exists to verify.
"""
