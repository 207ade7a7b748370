"""One cattrs converter for config blocks: strict scalar types, readable errors with paths.

YAML is forgiving (``"5"`` vs ``5``, ``yes`` vs ``true``); config is not: a field typed
``int`` takes an int, a ``bool`` takes a bool. Errors come back as ``(path, message)`` pairs
so the loader can attach the YAML line.

A block that is right, made of the plain types config classes use (str, int, float, bool,
Decimal, Literal, optional values, lists, tuples, mappings, nested attrs classes), is built
directly with the same strict checks (:func:`_direct`): importing cattrs and generating its
structuring code costs a start-up more than reading every block of a full config. Anything
else, and every block with a problem, goes through cattrs, which says what is wrong where.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import attrs

if TYPE_CHECKING:
    import cattrs


class FieldError(Exception):
    """A structuring problem at ``path`` (a tuple of keys/indexes below the block)."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(message)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _strict_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_describe(value)} (quote it in YAML)")
    return value


def _strict_int(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {_describe(value)}")
    return value


def _strict_float(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {_describe(value)}")
    return float(value)


def _strict_bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_describe(value)}")
    return value


def _decimal(value: Any, _: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"expected a number, got {_describe(value)}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"expected a number, got {_describe(value)}") from None
    if not number.is_finite():
        raise ValueError(f"expected a finite number, got {_describe(value)}")
    return number


def _is_literal(kind: Any) -> bool:
    return typing.get_origin(kind) is Literal


def _literal_hook(kind: Any) -> Any:
    allowed = typing.get_args(kind)

    def structure(value: Any, _: Any) -> Any:
        # bool is an int: `True in (1, 2)` must not pass for a Literal[1, 2]
        for option in allowed:
            if value == option and type(value) is type(option):
                return option
        choices = ", ".join(str(option) for option in allowed)
        raise ValueError(f"expected one of: {choices}; got {_describe(value)}")

    return structure


def _is_sequence(kind: Any) -> bool:
    return typing.get_origin(kind) in (list, tuple, set, frozenset)


def _is_mapping(kind: Any) -> bool:
    return typing.get_origin(kind) is dict or kind is dict


def _scalar_hooks(conv: cattrs.Converter) -> cattrs.Converter:
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(float, _strict_float)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook(Decimal, _decimal)
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook_factory(_is_literal, _literal_hook)
    return conv


@cache
def converter() -> cattrs.Converter:
    """The strict converter: scalars by exact type, containers checked for their shape."""
    import cattrs

    def strict() -> cattrs.Converter:
        # A field is read under the key a user writes: its alias (``_font`` from ``font``).
        return _scalar_hooks(
            cattrs.Converter(forbid_extra_keys=True, detailed_validation=True, use_alias=True)
        )

    conv = strict()
    # Containers are checked for shape here (a YAML string is iterable, a list of its letters
    # is never what the user meant), then structured by a converter without these guards.
    inner = strict()

    def guard(shape: type, word: str) -> Any:
        def factory(kind: Any) -> Any:
            def structure(value: Any, type_: Any) -> Any:
                if not isinstance(value, shape):
                    raise ValueError(f"expected {word}, got {_describe(value)}")
                return inner.structure(value, type_)

            return structure

        return factory

    conv.register_structure_hook_factory(_is_sequence, guard(list, "a list"))
    conv.register_structure_hook_factory(_is_mapping, guard(dict, "a mapping"))
    return conv


def structure(data: Any, cls: type[Any]) -> Any:
    """``cls`` from plain data, or FieldError naming the first bad field."""
    if not isinstance(data, dict):
        raise FieldError((), f"expected a mapping, got {_describe(data)}")
    direct = _direct(cls)
    if direct is not None:
        value = direct(data)
        if value is not _REFUSED:
            return value
    from cattrs.errors import (
        ClassValidationError,
        ForbiddenExtraKeysError,
        IterableValidationError,
    )

    try:
        return converter().structure(data, cls)
    except (ClassValidationError, IterableValidationError) as group:
        path, error = _first_leaf(group, ())
        if isinstance(error, ForbiddenExtraKeysError):  # the unknown key as the user wrote it
            path = (*_as_written(cls, path[:-1]), path[-1])
        else:
            path = _as_written(cls, path)
        raise FieldError(path, _message(error, path)) from None
    except ForbiddenExtraKeysError as error:
        raise FieldError((sorted(error.extra_fields)[0],), "unknown key") from None
    except (ValueError, TypeError) as error:
        field = _as_written(cls, _validated_field(error))
        raise FieldError(field, _message(error, field)) from None


def _as_written(cls: Any, path: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """``path`` with each attrs field's name as the key a user writes (its alias: ``_font``
    is read from ``font``); cattrs and attrs validators name fields by attribute name."""
    return _walk(cls, path, written=False)[0]


def kind_at(cls: Any, path: tuple[str | int, ...]) -> Any:
    """The type at ``path`` (keys as written) below ``cls``; None when it is not known."""
    return _walk(cls, path, written=True)[1]


def _walk(cls: Any, path: tuple[str | int, ...], *, written: bool) -> tuple[tuple[Any, ...], Any]:
    """``path`` as written and the type it leads to, through attrs classes (fields by alias
    if ``written``, else by attribute name), optional values, mappings, lists and tuples."""
    keys: list[str | int] = []
    kind: Any = cls
    for key in path:
        if typing.get_origin(kind) in (typing.Union, types.UnionType):
            kind = next((arg for arg in typing.get_args(kind) if arg is not type(None)), None)
        if isinstance(kind, type) and attrs.has(kind):
            try:
                attrs.resolve_types(kind)
            except Exception:  # an annotation that does not resolve: keep the keys, no type
                return (*keys, *path[len(keys) :]), None
            field = next(
                (f for f in attrs.fields(kind) if (f.alias if written else f.name) == key), None
            )
            keys.append(field.alias if field is not None else key)
            kind = field.type if field is not None else None
            continue
        keys.append(key)
        arguments = typing.get_args(kind)
        if typing.get_origin(kind) is tuple and arguments[-1:] != (...,):
            kind = arguments[key] if isinstance(key, int) and key < len(arguments) else None
        else:  # list[X], tuple[X, ...] and dict[K, X]: X
            kind = arguments[0] if typing.get_origin(kind) is tuple else (arguments or (None,))[-1]
    return tuple(keys), kind


def structure_scalar(value: Any, kind: type[Any]) -> Any:
    """``value`` as ``kind`` (str, int, float, bool or Decimal) by the converter's strict
    rules, or FieldError with the message a field of that type would get."""
    try:
        return _SCALARS[kind](value, None)
    except ValueError as error:
        raise FieldError((), _message(error)) from None


#: What a direct structurer returns for a value it will not take: cattrs then structures it
#: again, and says what is wrong and where.
_REFUSED: Any = object()

Direct = Callable[[Any], Any]


_DIRECT: dict[Any, Direct | None] = {}


def _direct(kind: Any) -> Direct | None:
    """A structurer for ``kind`` giving what the strict converter gives for a right value, and
    ``_REFUSED`` for any other; None when ``kind`` has a part it does not know (cattrs then
    structures every value of it).

    Each scalar goes through the converter's own hook, so a value passes here exactly when it
    passes there; a container must have the shape the converter's guard asks for.
    """
    try:
        known = kind in _DIRECT
    except TypeError:  # a type that cannot be a key: left to cattrs
        return None
    if not known:
        _DIRECT[kind] = None  # a class that holds itself is left to cattrs, not recursed into
        _DIRECT[kind] = _make_direct(kind)
    return _DIRECT[kind]


def _make_direct(kind: Any) -> Direct | None:
    scalar = _SCALARS.get(kind)
    if scalar is not None:
        return _checked(scalar)
    if kind is Any:
        return lambda value: value
    if _is_literal(kind):
        return _checked(_literal_hook(kind))
    if attrs.has(kind):
        return _direct_class(kind)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        others = [arg for arg in args if arg is not type(None)]
        if len(args) != 2 or len(others) != 1:
            return None  # a union of several types: cattrs' own rules choose
        inner = _direct(others[0])
        return None if inner is None else lambda value: None if value is None else inner(value)
    if origin is list and len(args) == 1:
        item = _direct(args[0])
        return None if item is None else _sequence(item, list)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _direct(args[0])
        return None if item is None else _sequence(item, tuple)
    if origin is dict and len(args) == 2:
        key, item = _direct(args[0]), _direct(args[1])
        if key is None or item is None:
            return None
        return _mapping(key, item)
    return None


_SCALARS: dict[Any, Callable[[Any, Any], Any]] = {
    str: _strict_str,
    int: _strict_int,
    float: _strict_float,
    bool: _strict_bool,
    Decimal: _decimal,
}


def _checked(hook: Callable[[Any, Any], Any]) -> Direct:
    def structure(value: Any) -> Any:
        try:
            return hook(value, None)
        except ValueError:
            return _REFUSED

    return structure


def _sequence(item: Direct, make: type[list[Any]] | type[tuple[Any, ...]]) -> Direct:
    def structure(value: Any) -> Any:
        if not isinstance(value, list):  # the converter's guard: a YAML list, nothing else
            return _REFUSED
        items = [item(element) for element in value]
        return _REFUSED if any(i is _REFUSED for i in items) else make(items)

    return structure


def _mapping(key: Direct, item: Direct) -> Direct:
    def structure(value: Any) -> Any:
        if not isinstance(value, dict):
            return _REFUSED
        result = {}
        for name, element in value.items():
            structured_key, structured = key(name), item(element)
            if structured_key is _REFUSED or structured is _REFUSED:
                return _REFUSED
            result[structured_key] = structured
        return result

    return structure


def _direct_class(cls: type[Any]) -> Direct | None:
    try:
        attrs.resolve_types(cls)
    except Exception:  # an annotation that does not resolve: cattrs reports it its own way
        return None
    fields: dict[str, Direct] = {}
    for field in attrs.fields(cls):
        if not field.init:
            continue
        structure = _direct(field.type) if field.type is not None else None
        if structure is None:
            return None
        fields[field.alias or field.name] = structure  # read and passed by its alias, as cattrs

    def build(value: Any) -> Any:
        if not isinstance(value, dict) or not value.keys() <= fields.keys():
            return _REFUSED  # an unknown key: cattrs names it
        arguments = {}
        for name, element in value.items():
            structured = fields[name](element)
            if structured is _REFUSED:
                return _REFUSED
            arguments[name] = structured
        try:
            return cls(**arguments)
        except Exception:  # a validator refused, or a required key is missing
            return _REFUSED

    return build


def _first_leaf(
    error: BaseException, path: tuple[str | int, ...]
) -> tuple[tuple[str | int, ...], BaseException]:
    from cattrs.errors import (
        ClassValidationError,
        ForbiddenExtraKeysError,
        IterableValidationError,
    )

    if isinstance(error, ClassValidationError | IterableValidationError):
        with_notes, without_notes = error.group_exceptions()
        for sub, note in with_notes:
            key = getattr(note, "name", None)
            if key is None:
                key = getattr(note, "index", None)
            return _first_leaf(sub, (*path, key) if key is not None else path)
        for sub in without_notes:
            return _first_leaf(sub, path)
    if isinstance(error, ForbiddenExtraKeysError):
        return (*path, sorted(error.extra_fields)[0]), error
    return (*path, *_validated_field(error)), error


def _validated_field(error: BaseException) -> tuple[str, ...]:
    """The field an attrs validator refused, so the error points at the key's own line.

    attrs' own validators raise ``(message, Attribute, ...)``. A plugin's validator usually
    raises a plain ``ValueError("...")``; attrs calls every validator as
    ``validator(instance, attribute, value)``, so the first frame of the error's traceback
    holding an ``Attribute`` is the validator's, and names the field.
    """
    attribute = error.args[1] if len(error.args) > 1 else None
    name = getattr(attribute, "name", None)
    if isinstance(name, str) and hasattr(attribute, "validator"):
        return (name,)
    traceback = error.__traceback__
    while traceback is not None:
        for value in traceback.tb_frame.f_locals.values():
            if isinstance(value, attrs.Attribute) and value.validator is not None:
                return (value.name,)
        traceback = traceback.tb_next
    return ()


def _message(error: BaseException, path: tuple[str | int, ...] = ()) -> str:
    """The error's first line; shown after the key's path, so a validator's own "key: "
    in front of it (``ValueError("color: expected ...")``) is not said twice."""
    from cattrs.errors import ForbiddenExtraKeysError

    if isinstance(error, ForbiddenExtraKeysError):
        return "unknown key"
    if isinstance(error, KeyError):
        return "required key is missing"
    first = error.args[0] if error.args else None
    text = first.strip() if isinstance(first, str) else str(error).strip()
    line = (text or type(error).__name__).splitlines()[0]
    if path and isinstance(path[-1], str):
        line = line.removeprefix(f"{path[-1]}: ").strip() or line
    return line


def unstructure(value: Any) -> Any:
    return converter().unstructure(value)


def field_names(cls: type[Any]) -> list[str]:
    return [field.alias or field.name for field in attrs.fields(cls)]
