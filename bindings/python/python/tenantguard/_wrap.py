"""Makes every failure of a native call a :class:`TenantguardError`.

The native module converts core errors itself. What it cannot reach are the errors its
argument conversion raises before any of its code runs: a wrong type (``TypeError``), an
integer out of range (``OverflowError``), a string with lone surrogates
(``UnicodeEncodeError``). Each native method and function is wrapped once, at import, so
such an error comes out as :class:`InvalidTypeError` (still a ``TypeError``) or
:class:`InvalidInputError` (a ``ValueError``), chained to the original.

An exception raised by the caller's own Python code that the native call ran (a key
provider, directory, clock, observer or progress callback) passes through unchanged: its
traceback has frames below the wrapper, a native conversion error has none.
A ``KeyboardInterrupt`` or ``SystemExit`` raised in such code always comes out as itself.
Constructors are converted in the native module itself (a type's ``__new__`` cannot be
wrapped from Python).
"""

from __future__ import annotations

import functools
from types import BuiltinFunctionType, TracebackType
from typing import Any, Callable, TypeVar

from . import _native
from ._errors import InvalidInputError, InvalidTypeError, TenantguardError

_F = TypeVar("_F", bound=Callable[..., Any])

_DESCRIPTORS = (type(str.join), type(dict.__dict__["fromkeys"]))  # method, classmethod


def _argument(e: BaseException) -> str:
    notes = getattr(e, "__notes__", None) or []
    for n in notes:
        if isinstance(n, str) and n.startswith("while processing '"):
            return "argument " + n[len("while processing ") :] + ": "
    return ""


def translate(e: BaseException, where: str) -> BaseException | None:
    """The tenantguard error for a conversion error `e` raised by native code, or None
    to let `e` through."""
    if isinstance(e, TenantguardError):
        return None
    tb: TracebackType | None = e.__traceback__
    if tb is not None and tb.tb_next is not None:
        return None  # raised by Python code the call ran: the caller's own exception
    arg = _argument(e)
    if isinstance(e, UnicodeError):
        return InvalidInputError(
            f"{where}: {arg}text must be valid Unicode without lone surrogates "
            f"(such as from errors='surrogateescape' decoding); clean or re-encode it first"
        )
    if isinstance(e, OverflowError):
        return InvalidInputError(f"{where}: {arg}number out of range ({e})")
    if type(e) is TypeError:
        return InvalidTypeError(f"{where}: {arg}{e}")
    if type(e) is ValueError:
        return InvalidInputError(f"{where}: {arg}{e}")
    return None


def _wrap(fn: _F, where: str) -> _F:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (TypeError, ValueError, OverflowError) as e:
            t = translate(e, where)
            if t is None:
                raise
            raise t from e

    return call  # type: ignore[return-value]


def _wrap_classmethod(desc: Any, cls: type, where: str) -> Callable[..., Any]:
    inner = _wrap(desc.__get__(None, cls), where)

    @functools.wraps(desc)
    def call(_cls: type, *args: Any, **kwargs: Any) -> Any:
        return inner(*args, **kwargs)

    return call


def _wrap_class(cls: type) -> None:
    for name, attr in list(vars(cls).items()):
        where = f"{cls.__name__}.{name}"
        if isinstance(attr, _DESCRIPTORS[0]):
            setattr(cls, name, _wrap(attr, where))
        elif isinstance(attr, _DESCRIPTORS[1]):
            setattr(cls, name, classmethod(_wrap_classmethod(attr, cls, where)))
        elif isinstance(attr, staticmethod):
            setattr(cls, name, staticmethod(_wrap(attr.__func__, where)))


_done = False


def wrap_native() -> None:
    """Wraps every public native class's methods and every native function (once)."""
    global _done
    if _done:
        return
    _done = True
    for name, obj in list(vars(_native).items()):
        if name.startswith("__"):
            continue
        if isinstance(obj, type) and not issubclass(obj, BaseException):
            _wrap_class(obj)
        elif isinstance(obj, BuiltinFunctionType):
            setattr(_native, name, _wrap(obj, name))
