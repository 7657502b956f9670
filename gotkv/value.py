"""Value: the base of small immutable records (Ref, Root, Params, Commit, Config ...).

What `@dataclass(frozen=True, slots=True)` would give them, written once by hand: equality
and a hash over the fields, a repr, pickling, `replace`, and no assignment after `__init__`.
The dataclasses module costs every process that imports it ~8 ms (it imports inspect, which
imports ast, dis and tokenize) and each decorated class ~0.3 ms more (it compiles generated
methods); the read-only commands (`got log`, `got branch`) start in ~40 ms in all, so those
imports were a third of them.

A subclass lists its fields in `__slots__`, in the order its `__init__` takes them, and
sets them with `object.__setattr__` (plain assignment raises). `_compare` names the fields that
equality and the hash use, when not all of them (Config leaves its wrapped secret out).
Equality holds only between instances of the same class, as a dataclass's does.
"""

from __future__ import annotations

from operator import attrgetter


class Value:
    __slots__ = ()
    _compare: tuple[str, ...] | None = None  # None: every slot

    def __init_subclass__(cls, **kw) -> None:
        super().__init_subclass__(**kw)
        # The compared fields as one C call (a tuple for two or more): equality and hashing
        # cost what a dataclass's generated methods do.
        cls._values = staticmethod(attrgetter(*(cls._compare or cls.__slots__)))

    def __eq__(self, other) -> bool:
        if other.__class__ is self.__class__:
            values = self._values
            return values(self) == values(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values(self))

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: a {type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: a {type(self).__name__} is immutable")

    def __reduce__(self):
        return type(self), tuple(getattr(self, f) for f in self.__slots__)

    def replace(self, **changes) -> Value:
        """A copy with some fields changed (validated again by `__init__`)."""
        fields = {f: getattr(self, f) for f in self.__slots__}
        unknown = changes.keys() - fields.keys()
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(sorted(unknown))}")
        fields.update(changes)
        return type(self)(**fields)
