"""The Test: a complete, plain-data description of one run.

A Test says everything needed to run again: the cluster (database, nodes, backend, read
mode, defects), the workload and its options, the nemesis, the generator's shape
(concurrency, rate, time limit, recovery time), the seed, and the store. It is built
from a TOML test file and/or command-line flags (flags win), validated field by field
(an unknown key or a bad value is one clear :class:`InputError`, exit 2), and saved as
``test.json`` in the run's store directory, so

    chaos run --test-file store/<name>/<time>/test.json

runs it again with the same seed. Runtime handles (the cluster, clients, threads) live
beside the Test, never in it.
"""

from __future__ import annotations

import json
import math
import random
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Final

from harness.errors import InputError

READ_MODES: Final = ("log", "index", "lease", "follower", "stale")
UNSAFE_DEFECTS: Final = ("stale-reads", "lease-ignore-drift", "ack-before-commit", "no-fsync")
BACKENDS: Final = ("docker", "local", "ssh")
ROUND_ROBIN: Final = "round-robin"
_NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")
MAX_NODES: Final = 9  # the compose file's n1..n9


@dataclass(frozen=True)
class Test:
    """One run, as plain data (see module docstring). Every field has a TOML key of the
    same name; ``workload_options`` is a TOML table."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    name: str = ""  # default: "<workload>-<nemesis>"
    workload: str = "register"
    workload_options: Mapping[str, Any] = field(default_factory=dict)
    nemesis: tuple[str, ...] = ("none",)
    nemesis_interval: float | None = None  # seconds; None: the preset's, else 10
    preset: str | None = None
    database: str = "raftkv"
    nodes: int = 3
    backend: str | None = None  # None: docker when an engine is reachable, else local
    read_mode: str = "index"
    unsafe: tuple[str, ...] = ()
    concurrency: int = 10
    rate: float = 50.0  # client ops per second, over all clients
    time_limit: float = 30.0  # seconds of workload
    recovery_time: float = 5.0  # seconds between healing and the final generator
    op_timeout: float = 5.0  # seconds before an op is abandoned as info
    client_placement: str = ROUND_ROBIN  # or a node name: every client on that node
    seed: int = 0
    store: str = "store"
    inventory: str | None = None  # ssh backend
    accept_new_host_keys: bool = False  # ssh backend

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["nemesis"] = list(self.nemesis)
        d["unsafe"] = list(self.unsafe)
        d["workload_options"] = dict(self.workload_options)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @property
    def store_dir(self) -> Path:
        return Path(self.store)


FIELD_NAMES: Final = tuple(f.name for f in fields(Test))


def _bad(key: str, value: Any, want: str) -> InputError:
    return InputError(f"test option {key}: expected {want}, got {value!r}")


def _int(key: str, v: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _bad(key, v, "an integer")
    if v < lo or (hi is not None and v > hi):
        raise _bad(key, v, f"an integer from {lo}" + (f" to {hi}" if hi is not None else ""))
    return v


def _float(key: str, v: Any, *, positive: bool = True) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _bad(key, v, "a number")
    if (positive and v <= 0) or v < 0:
        raise _bad(key, v, "a positive number" if positive else "a number >= 0")
    return float(v)


def _str(key: str, v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise _bad(key, v, "a non-empty string")
    return v


def _names(key: str, v: Any) -> tuple[str, ...]:
    """A list of names, given as a list or as one comma-separated string."""
    if isinstance(v, str):
        items = [s.strip() for s in v.split(",")]
    elif isinstance(v, list | tuple) and all(isinstance(s, str) for s in v):
        items = [s.strip() for s in v]
    else:
        raise _bad(key, v, "a list of names (or one comma-separated string)")
    if any(not s for s in items):
        raise _bad(key, v, "names without empty entries")
    return tuple(items)


def _choice(key: str, v: Any, choices: tuple[str, ...]) -> str:
    if v not in choices:
        raise _bad(key, v, "one of " + ", ".join(choices))
    return str(v)


def _optional(v: Any) -> bool:
    return v is None or v == ""


def build_test(values: Mapping[str, Any], *, source: str = "flags") -> Test:
    """A validated Test from a mapping of TOML keys to values (missing keys: defaults).

    ``source`` names where the values came from, for error messages. A ``seed`` that is
    missing or None is drawn at random (and then recorded in the Test)."""
    unknown = sorted(set(values) - set(FIELD_NAMES))
    if unknown:
        raise InputError(f"{source}: unknown test option {unknown[0]!r}; "
                         f"valid options: {', '.join(FIELD_NAMES)}")
    v = {k: x for k, x in values.items() if x is not None}
    d: dict[str, Any] = {}
    d["workload"] = _str("workload", v.get("workload", Test.workload))
    opts = v.get("workload_options", {})
    if not isinstance(opts, Mapping) or not all(isinstance(k, str) for k in opts):
        raise _bad("workload_options", opts, "a table of option names to values")
    d["workload_options"] = dict(opts)
    d["nemesis"] = _names("nemesis", v.get("nemesis", Test.nemesis))
    if not _optional(v.get("nemesis_interval")):
        d["nemesis_interval"] = _float("nemesis_interval", v["nemesis_interval"])
    if not _optional(v.get("preset")):
        d["preset"] = _str("preset", v["preset"])
    d["database"] = _str("database", v.get("database", Test.database))
    d["nodes"] = _int("nodes", v.get("nodes", Test.nodes), 1, MAX_NODES)
    if not _optional(v.get("backend")):
        d["backend"] = _choice("backend", v["backend"], BACKENDS)
    d["read_mode"] = _choice("read_mode", v.get("read_mode", Test.read_mode), READ_MODES)
    unsafe = _names("unsafe", v.get("unsafe", ())) if v.get("unsafe") else ()
    for u in unsafe:
        _choice("unsafe", u, UNSAFE_DEFECTS)
    d["unsafe"] = tuple(dict.fromkeys(unsafe))
    d["concurrency"] = _int("concurrency", v.get("concurrency", Test.concurrency), 1, 1000)
    d["rate"] = _float("rate", v.get("rate", Test.rate))
    d["time_limit"] = _float("time_limit", v.get("time_limit", Test.time_limit))
    d["recovery_time"] = _float("recovery_time", v.get("recovery_time", Test.recovery_time),
                                positive=False)
    d["op_timeout"] = _float("op_timeout", v.get("op_timeout", Test.op_timeout))
    placement = _str("client_placement", v.get("client_placement", Test.client_placement))
    if placement != ROUND_ROBIN:
        m = re.fullmatch(r"n([1-9])", placement)
        if m is None or int(m.group(1)) > d["nodes"]:
            raise _bad("client_placement", placement,
                       f"{ROUND_ROBIN} or a node name n1..n{d['nodes']}")
    d["client_placement"] = placement
    seed = v.get("seed")
    d["seed"] = random.SystemRandom().randrange(2**31) if seed is None else _int(
        "seed", seed, 0, 2**63 - 1)
    d["store"] = _str("store", v.get("store", Test.store))
    if not _optional(v.get("inventory")):
        d["inventory"] = _str("inventory", v["inventory"])
    accept = v.get("accept_new_host_keys", False)
    if not isinstance(accept, bool):
        raise _bad("accept_new_host_keys", accept, "true or false")
    d["accept_new_host_keys"] = accept
    if d.get("backend") == "ssh" and "inventory" not in d:
        raise InputError(f"{source}: the ssh backend needs an inventory (--inventory FILE)")
    name = v.get("name") or default_name(d["workload"], d.get("preset"), d["nemesis"])
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise _bad("name", name, "a name of letters, digits, '.', '_', '+' or '-' (at most 100)")
    d["name"] = name
    return Test(**d)


def default_name(workload: str, preset: str | None, nemesis: tuple[str, ...]) -> str:
    """``<workload>-<preset or nemeses joined by '+'>``, e.g. ``register-partition+kill``."""
    return f"{workload}-{preset or '+'.join(nemesis)}"


def read_test_file(path: str | Path) -> dict[str, Any]:
    """The raw values of a test file: TOML, or JSON (a saved ``test.json``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot read test file {path}: {e.strerror or e}") from e
    try:
        data: Any = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        kind = "JSON" if p.suffix == ".json" else "TOML"
        raise InputError(f"test file {path} is not valid {kind}: {e}") from e
    if not isinstance(data, dict):
        raise InputError(f"test file {path}: expected a table of test options")
    return data


def with_preset_defaults(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with a nemesis preset's run settings (workload, read mode, defects, op
    timeout: ``nemesis.presets.run_defaults``) filled in where they were not given."""
    out = dict(values)
    name = out.get("preset")
    if isinstance(name, str) and name:
        from nemesis.presets import get_preset, run_defaults

        for key, value in run_defaults(get_preset(name)).items():
            if out.get(key) is None:
                out[key] = value
    return out


def load_test(test_file: str | Path | None, overrides: Mapping[str, Any]) -> Test:
    """The Test from a test file (if any) with ``overrides`` (the flags given) on top,
    and a preset's defaults under both."""
    values: dict[str, Any] = {}
    source = "flags"
    if test_file is not None:
        values = read_test_file(test_file)
        source = str(test_file)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return build_test(with_preset_defaults(values), source=source)
