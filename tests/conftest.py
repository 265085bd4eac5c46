"""Shared pytest setup: environment gates for the slow, real-system suites.

Tests marked ``docker`` need a reachable Docker engine and the raftkv image; tests
marked ``netns`` need root to create network namespaces; ``chromium`` needs headless
Chromium. Where a need is not met they are skipped with the precise reason, except in
CI (``CI=true``), where a missing engine, image, privilege or browser is an error:
CI must never pass by silently skipping the real tests.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@functools.cache
def _docker_problem() -> str | None:
    """None when the engine answers and the raftkv image exists, else why not."""
    try:
        import docker
        from docker.errors import DockerException, ImageNotFound
    except ImportError:
        return "the docker Python SDK is not installed"
    try:
        client = docker.from_env(timeout=5)
        client.ping()
    except DockerException as e:
        return f"no Docker engine reachable ({str(e)[:100]})"
    try:
        client.images.get("raftkv:latest")
    except ImageNotFound:
        return "image raftkv:latest is not built (run: chaos cluster build)"
    finally:
        client.close()
    return None


@functools.cache
def _netns_problem() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip"):
        return "`ip` (iproute2) is not installed"
    binary = REPO_ROOT / "cluster" / "node" / "target" / "release" / "raftkv"
    if not binary.exists() and not os.environ.get("RAFTKV_BIN"):
        return "raftkv is not built (run: chaos cluster build)"
    return None


@functools.cache
def _chromium_problem() -> str | None:
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        return "headless Chromium is not installed (apt-get install chromium)"
    return None


_GATES = {"docker": _docker_problem, "netns": _netns_problem, "chromium": _chromium_problem}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker, problem_of in _GATES.items():
            if marker not in item.keywords:
                continue
            problem = problem_of()
            if problem is None:
                continue
            if not _in_ci():  # in CI, pytest_runtest_setup fails the test instead
                item.add_marker(pytest.mark.skip(reason=f"{marker}: {problem}"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if _in_ci():
        for marker, problem_of in _GATES.items():
            if marker in item.keywords and (problem := problem_of()) is not None:
                pytest.fail(f"CI=true but {marker} tests cannot run: {problem}", pytrace=False)
