"""Models: the sequential specifications that linearizability is checked against.

A model is an initial state (``init``) and a pure transition (``step``): given a state
and one operation, the state after it, or :data:`ILLEGAL` when the operation cannot
happen in that state (a read that saw another value, a cas whose old value does not
match, an acquire of a held lock). States must be hashable and compare by value; the
search caches ``(linearized set, state)`` pairs. Everything else is optional and has a
default: ``prepare`` (validate and normalize an operation once, before the search),
``partition`` (the independent part an operation belongs to, P-compositionality; by
default its ``key``), ``is_read_only`` (an operation that never changes the state: one
with an unknown outcome tells nothing and is dropped), ``describe_call`` and
``describe_state`` (words for counterexamples). A new model needs no change to the
search: build a :class:`Model`, or register one under the ``raft_chaos.models`` entry
point group (an entry point names a Model, or a function of no arguments returning one;
see harness/plugins.py).

Operations reach ``step`` as a :class:`Call`: ``f``, ``key``, ``arg`` (the invocation's
value), ``ret`` (the completion's value) and ``known`` (False for an ``info``
completion: the operation may have taken effect, with a result nobody saw). Lists in
values arrive as tuples, so they can be part of a state.

Op conventions of the built-in models (what a workload records):

=================  =====================================================================
model              operations
=================  =====================================================================
``register``       ``read`` (value: the int read, or null for nil), ``write`` (value: int)
``cas-register``   as ``register``, plus ``cas`` (value ``[old, new]``; ``fail`` when the
                   compare failed). Both start at nil; ``key`` set for independent keys.
``multi-register`` ``txn``, value a list of ``[f, k, v]`` micro-ops, f ``r``/``read`` or
                   ``w``/``write``; a read's v is null in the invocation and filled in the
                   completion. Every key starts at 0. One part (txns span keys).
``mutex``          ``acquire``, ``release`` (no value). Starts released; one lock per key.
``kv``             per key (MIT 6.824): ``get`` (value: the current string; "" initially,
                   null is read as ""), ``put`` (value: string, replaces it), ``append``
                   (value: string, concatenated).
``set``            ``add`` (value: an element), ``read`` (value: the list of elements).
=================  =====================================================================
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from harness.errors import InputError


class _Illegal:
    """The one value a step returns when an operation cannot happen in a state."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ILLEGAL"

    def __reduce__(self) -> str:
        return "ILLEGAL"


ILLEGAL: Final = _Illegal()


class Call(NamedTuple):
    """One operation as the search sees it (see module docstring)."""

    f: str
    key: Any
    arg: Any
    ret: Any
    known: bool


def _same(call: Call) -> Call:
    return call


def _key_of(call: Call) -> Hashable:
    return call.key


def _never(call: Call) -> bool:
    return False


def _show(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, tuple):
        return "[" + " ".join(_show(x) for x in v) + "]"
    if isinstance(v, frozenset):
        try:
            items = sorted(v)
        except TypeError:
            items = list(v)
        return "{" + ", ".join(_show(x) for x in items) + "}"
    if isinstance(v, str):
        return repr(v)
    return str(v)


def _default_describe(call: Call) -> str:
    key = f" of key {_show(call.key)}" if call.key is not None else ""
    s = f"{call.f}{key}"
    if call.arg is not None:
        s += f" with {_show(call.arg)}"
    if call.known and call.ret is not None and call.ret != call.arg:
        s += f" returning {_show(call.ret)}"
    return s


@dataclass(frozen=True)
class Model:
    """A sequential specification (see module docstring)."""

    name: str
    init: Callable[[], Any]
    step: Callable[[Any, Call], Any]
    prepare: Callable[[Call], Call] = _same
    partition: Callable[[Call], Hashable] | None = _key_of
    is_read_only: Callable[[Call], bool] = _never
    describe_call: Callable[[Call], str] = _default_describe
    describe_state: Callable[[Any], str] = _show


def freeze(v: Any) -> Any:
    """A value made hashable: lists become tuples, dicts frozensets of items."""
    t = type(v)
    if t is int or t is str or v is None:
        return v
    if isinstance(v, list | tuple):
        return tuple(freeze(x) for x in v)
    if isinstance(v, dict):
        return frozenset((freeze(k), freeze(x)) for k, x in v.items())
    if isinstance(v, set | frozenset):
        return frozenset(freeze(x) for x in v)
    return v


def _bad(call: Call, model: str, fs: tuple[str, ...]) -> ValueError:
    return ValueError(f"the {model} model has no {call.f!r} operation "
                      f"(it knows {', '.join(fs)})")


# ----------------------------------------------------------------------------- registers

_REGISTER_FS: Final = ("read", "write")
_CAS_FS: Final = ("read", "write", "cas")


def _prepare_register(call: Call, *, cas: bool) -> Call:
    fs = _CAS_FS if cas else _REGISTER_FS
    if call.f not in fs:
        raise _bad(call, "cas-register" if cas else "register", fs)
    if call.f == "cas" and not (isinstance(call.arg, tuple) and len(call.arg) == 2):
        raise ValueError(f"a cas value must be [old, new], got {_show(call.arg)}")
    return call


def _register_step(state: Any, call: Call) -> Any:
    f = call.f
    if f == "read":
        return state if not call.known or call.ret == state else ILLEGAL
    if f == "write":
        return call.arg
    old, new = call.arg
    return new if state == old else ILLEGAL


def _is_read(call: Call) -> bool:
    return call.f == "read"


def _describe_register(call: Call) -> str:
    key = f" of key {_show(call.key)}" if call.key is not None else ""
    if call.f == "read":
        if not call.known:
            return f"read{key}"
        return f"read{key} returned {_show(call.ret)}"
    if call.f == "write":
        return f"write of {_show(call.arg)}" + (f" to key {_show(call.key)}" if key else "")
    old, new = call.arg
    return f"cas{key} from {_show(old)} to {_show(new)}"


def register(initial: Any = None) -> Model:
    """A read/write register starting at ``initial`` (nil by default)."""
    return Model("register", functools.partial(_const, freeze(initial)), _register_step,
                 prepare=functools.partial(_prepare_register, cas=False),
                 is_read_only=_is_read, describe_call=_describe_register)


def cas_register(initial: Any = None) -> Model:
    """A read/write/compare-and-set register starting at ``initial`` (nil by default)."""
    return Model("cas-register", functools.partial(_const, freeze(initial)), _register_step,
                 prepare=functools.partial(_prepare_register, cas=True),
                 is_read_only=_is_read, describe_call=_describe_register)


def _const(v: Any) -> Any:
    return v


# ---------------------------------------------------------------------------- multi-register

_MICRO: Final = {"r": False, "read": False, "w": True, "write": True}


def _prepare_txn(call: Call) -> Call:
    """Micro-ops normalized to ``(is_write, key, value)``; unknown reads left out."""
    if call.f != "txn":
        raise _bad(call, "multi-register", ("txn",))
    source = call.ret if call.known and call.ret is not None else call.arg
    if not isinstance(source, tuple):
        raise ValueError(f"a txn value must be a list of [f, k, v] micro-ops, "
                         f"got {_show(source)}")
    micro = []
    for m in source:
        if not (isinstance(m, tuple) and len(m) == 3 and m[0] in _MICRO):
            raise ValueError(f"a txn micro-op must be [r|w|read|write, key, value], "
                             f"got {_show(m)}")
        is_write = _MICRO[m[0]]
        if is_write or (call.known and m[2] is not None):
            micro.append((is_write, m[1], m[2]))
    return call._replace(arg=tuple(micro), ret=None)


def _txn_step(state: frozenset[tuple[Any, Any]], call: Call, *, initial: Any) -> Any:
    values = dict(state)
    wrote = False
    for is_write, k, v in call.arg:
        if is_write:
            values[k] = v
            wrote = True
        elif values.get(k, initial) != v:
            return ILLEGAL
    if not wrote:
        return state
    return frozenset((k, v) for k, v in values.items() if v != initial)


def _txn_is_read_only(call: Call) -> bool:
    return not any(is_write for is_write, _, _ in call.arg)


def _describe_txn(call: Call) -> str:
    parts = [f"{'write' if w else 'read'} {_show(k)}={_show(v)}" for w, k, v in call.arg]
    return "txn [" + ", ".join(parts) + "]"


def _describe_multi_state(state: frozenset[tuple[Any, Any]], *, initial: Any) -> str:
    if not state:
        return f"every key {_show(initial)}"
    items = sorted(state, key=repr)
    return ", ".join(f"{_show(k)}={_show(v)}" for k, v in items) + \
        f", every other key {_show(initial)}"


def multi_register(initial: Any = 0) -> Model:
    """Registers read and written together in ``txn`` ops; every key starts at ``initial``."""
    init = freeze(initial)
    return Model("multi-register", functools.partial(_const, frozenset()),
                 functools.partial(_txn_step, initial=init),
                 prepare=_prepare_txn, partition=None, is_read_only=_txn_is_read_only,
                 describe_call=_describe_txn,
                 describe_state=functools.partial(_describe_multi_state, initial=init))


# ---------------------------------------------------------------------------- mutex


def _prepare_mutex(call: Call) -> Call:
    if call.f not in ("acquire", "release"):
        raise _bad(call, "mutex", ("acquire", "release"))
    return call


def _mutex_step(held: bool, call: Call) -> Any:
    if call.f == "acquire":
        return ILLEGAL if held else True
    return False if held else ILLEGAL


def _describe_mutex(call: Call) -> str:
    return call.f + (f" of lock {_show(call.key)}" if call.key is not None else "")


def _describe_mutex_state(held: bool) -> str:
    return "held" if held else "released"


def mutex() -> Model:
    """A lock: ``acquire`` needs it released, ``release`` needs it held. Starts released."""
    return Model("mutex", functools.partial(_const, False), _mutex_step,
                 prepare=_prepare_mutex, describe_call=_describe_mutex,
                 describe_state=_describe_mutex_state)


# ---------------------------------------------------------------------------- kv

_KV_FS: Final = ("get", "put", "append")


def _prepare_kv(call: Call) -> Call:
    if call.f not in _KV_FS:
        raise _bad(call, "kv", _KV_FS)
    if call.f == "get":
        ret = "" if call.ret is None else call.ret
        if call.known and not isinstance(ret, str):
            raise ValueError(f"a kv get must return a string, got {_show(ret)}")
        return call._replace(ret=ret)
    if not isinstance(call.arg, str):
        raise ValueError(f"a kv {call.f} value must be a string, got {_show(call.arg)}")
    return call


def _kv_step(state: str, call: Call) -> Any:
    f = call.f
    if f == "get":
        return state if not call.known or call.ret == state else ILLEGAL
    if f == "put":
        return call.arg
    return state + call.arg


def _is_get(call: Call) -> bool:
    return call.f == "get"


def _describe_kv(call: Call) -> str:
    key = _show(call.key)
    if call.f == "get":
        return f"get of key {key}" + (f" returned {_show(call.ret)}" if call.known else "")
    return f"{call.f} of {_show(call.arg)} to key {key}"


def kv() -> Model:
    """Per-key strings with get/put/append (MIT 6.824); every key starts as ``""``."""
    return Model("kv", functools.partial(_const, ""), _kv_step, prepare=_prepare_kv,
                 is_read_only=_is_get, describe_call=_describe_kv)


# ---------------------------------------------------------------------------- set


def _prepare_set(call: Call) -> Call:
    if call.f not in ("add", "read"):
        raise _bad(call, "set", ("add", "read"))
    if call.f == "read" and call.known:
        if not isinstance(call.ret, tuple | frozenset):
            raise ValueError(f"a set read must return a list, got {_show(call.ret)}")
        return call._replace(ret=frozenset(call.ret))
    return call


def _set_step(state: frozenset[Any], call: Call) -> Any:
    if call.f == "add":
        return state if call.arg in state else state | {call.arg}
    return state if not call.known or call.ret == state else ILLEGAL


def _describe_set(call: Call) -> str:
    of = f" of set {_show(call.key)}" if call.key is not None else ""
    if call.f == "add":
        return f"add of {_show(call.arg)}" + (f" to set {_show(call.key)}" if of else "")
    return f"read{of}" + (f" returned {_show(call.ret)}" if call.known else "")


def set_model() -> Model:
    """A grow-only set: ``add`` an element, ``read`` all of them. Starts empty."""
    return Model("set", functools.partial(_const, frozenset()), _set_step,
                 prepare=_prepare_set, is_read_only=_is_read, describe_call=_describe_set,
                 describe_state=_show)


# ---------------------------------------------------------------------------- registry

BUILTIN_MODELS: Final[Mapping[str, Callable[[], Model]]] = {
    "register": register,
    "cas-register": cas_register,
    "multi-register": multi_register,
    "mutex": mutex,
    "kv": kv,
    "set": set_model,
}

def model_names() -> list[str]:
    """Every model name: the built-in ones and those of installed plugins."""
    from harness.plugins import plugin_names

    return sorted(set(BUILTIN_MODELS) | set(plugin_names("models")))


def get_model(name: str) -> Model:
    """The model called ``name``: built in, or from a ``raft_chaos.models`` entry point
    (harness/plugins.py). Raises InputError for an unknown name, listing the known ones.
    """
    factory = BUILTIN_MODELS.get(name)
    if factory is not None:
        return factory()
    from harness.plugins import load_plugin

    try:
        obj = load_plugin("models", name)
    except InputError:
        raise InputError(f"unknown model {name!r}; known models: "
                         f"{', '.join(model_names())}") from None
    model = obj if isinstance(obj, Model) else obj()
    if not isinstance(model, Model):
        raise InputError(f"model plugin {name!r} did not give a Model")
    return model
