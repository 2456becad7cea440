"""The root of every error visiontrain raises on purpose. Each says what is wrong and what to do;
code that reports errors to a user catches ``VisiontrainError`` and shows the message as it is.

Subclasses keep their older base too (``ValueError`` for bad input, ``RuntimeError`` for a step
that failed, ``KeyError`` for a missing record), so ``except ValueError`` still catches bad input.
Every subclass survives pickling (Ray sends errors between processes) whatever its ``__init__``
takes: the message and the attributes travel, ``__init__`` is not called again."""
from __future__ import annotations

__all__ = ["VisiontrainError"]


class VisiontrainError(Exception):
    def __reduce__(self):
        return _rebuild, (type(self), self.args, dict(self.__dict__))


def _rebuild(cls: type, args: tuple, state: dict) -> BaseException:
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err
