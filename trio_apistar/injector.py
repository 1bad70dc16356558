"""Dependency injection: resolution plans built once, run per connection.

A *plan* is made for each handler and hook when the app is built. It is a flat, ordered tuple of
steps (which component resolves which parameter, and what that component needs in turn), so
that per connection the steps run against a small dict of already-resolved values, ``state``.
Each step stores its result in ``state`` under its key, so a component resolves at most once
per connection, however many hooks and parameters ask for it.

Components are keyed by the return annotation of their ``resolve()`` method. A ``resolve`` that
has a parameter annotated ``inspect.Parameter`` receives the parameter being resolved (lookups
by name: query params, headers); its results are then cached per parameter name.

A plan also knows whether running it may *suspend*: only a coroutine function that awaits
(``await``, ``async for``, ``async with``) can; a plain function or one that awaits nothing
runs to its end when called, so the framework can run it inline, with nothing to cancel.

Pure Python: the injector knows nothing of ASGI or trio.
"""

import dis
import functools
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterable, Mapping
from typing import Any

from .exceptions import ConfigurationError

__all__ = [
    "SUPPORTED",
    "Checker",
    "Component",
    "Injector",
    "Plan",
    "Step",
    "can_suspend",
    "is_async",
    "signature",
]

#: ``check(name, annotation)``: a function validating a named value, or ``None`` if none is needed.
Checker = Callable[[str, Any], Callable[[Any], Any] | None]


def signature(func: Callable[..., Any]) -> inspect.Signature:
    """``inspect.signature`` with string annotations (``from __future__ import annotations``)
    evaluated, so they match the types components are keyed by."""
    try:
        return inspect.signature(func, eval_str=True)
    except (NameError, TypeError, SyntaxError):
        return inspect.signature(func)


class Component:
    """Base class for the things handlers can ask for by annotation.

    Subclass it and define ``resolve(self, ...) -> T``; any handler or hook parameter annotated
    ``T`` then receives what ``resolve`` returns. ``resolve`` may be ``def`` or ``async def``, and
    its own parameters are injected the same way (plus ``inspect.Parameter``, the parameter being
    resolved). Override :meth:`can_handle_parameter` to match parameters by something else than
    their annotation.
    """

    def can_handle_parameter(self, parameter: inspect.Parameter) -> bool:
        """Whether this component resolves ``parameter`` (by default: by its annotation)."""
        return_annotation = _resolve_return_annotation(self)
        return parameter.annotation is return_annotation

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _resolve_return_annotation(component: Component) -> Any:
    resolve = getattr(component, "resolve", None)
    if resolve is None:
        raise ConfigurationError(f"Component {component!r} has no resolve() method")
    annotation = signature(resolve).return_annotation
    if annotation is inspect.Signature.empty:
        raise ConfigurationError(
            f"{type(component).__name__}.resolve() needs a return annotation: it says what "
            "the component provides"
        )
    return annotation


def _check_component(component: object) -> None:
    if isinstance(component, type):
        name = component.__qualname__
        if issubclass(component, Component):
            raise TypeError(
                f"components takes Component instances, not the class {name}: "
                f"write {name}() in the list"
            )
        raise TypeError(f"components takes Component instances, not the class {name}")
    if not isinstance(component, Component):
        raise TypeError(
            "components takes Component instances (subclass trio_apistar.Component and define "
            f"resolve()), not {type(component).__name__} {component!r}"
        )


def _code_owner(func: Callable[..., Any]) -> Callable[..., Any]:
    """What runs when ``func`` is called: ``func`` itself or, for an instance (a handler written
    as an object with ``async def __call__``), its class's ``__call__``."""
    if inspect.isroutine(func) or isinstance(func, type | functools.partial):
        return func
    cls: Any = type(func)
    call: Callable[..., Any] = cls.__call__
    return call


def is_async(func: Callable[..., Any]) -> bool:
    """Whether calling ``func`` gives a coroutine to await: a coroutine function, a
    ``functools.partial`` of one, or an object whose ``__call__`` is one."""
    return inspect.iscoroutinefunction(_code_owner(func))


def can_suspend(func: Callable[..., Any]) -> bool:
    """Whether a call of ``func`` may suspend: a coroutine function whose code awaits.

    A coroutine suspends only at a ``YIELD_VALUE`` of its own code (every ``await``,
    ``async for`` and ``async with`` compiles to one; a nested function's awaits need one in
    the code that awaits it), so one without it runs to completion on its first step.
    Anything whose code cannot be read counts as able to suspend.
    """
    func = _code_owner(func)
    if not inspect.iscoroutinefunction(func):
        return False
    code = getattr(inspect.unwrap(func), "__code__", None)
    if code is None:
        return True
    return any(instruction.opname == "YIELD_VALUE" for instruction in dis.get_instructions(code))


def _overrides_matching(component: Component) -> bool:
    return type(component).can_handle_parameter is not Component.can_handle_parameter


class Step:
    """One call of a plan: ``state[key] = func(*(state[k] for k in arg_keys))``."""

    __slots__ = ("arg_keys", "can_suspend", "func", "is_async", "key")

    def __init__(
        self, key: Hashable, func: Callable[..., Any], arg_keys: tuple[Hashable, ...]
    ) -> None:
        self.key = key
        self.func = func
        self.arg_keys = arg_keys
        self.is_async = is_async(func)
        self.can_suspend = can_suspend(func)

    def __repr__(self) -> str:
        return f"Step({self.key!r} <- {getattr(self.func, '__qualname__', self.func)})"


class Plan:
    """How to call one function: the steps that resolve its arguments, then the call itself.

    ``uses`` is the set of initial keys (values the framework provides per connection) that the
    plan reads, so the caller can skip preparing what nobody asked for. ``is_sync`` is true when
    no step and not the function itself is a coroutine function: the plan can run inline.
    ``can_suspend`` is false when no step and not the function can suspend (see
    :func:`can_suspend`): awaiting :meth:`run` then never yields to the event loop.
    """

    __slots__ = (
        "arg_keys",
        "can_suspend",
        "func",
        "func_is_async",
        "is_sync",
        "steps",
        "steps_are_sync",
        "uses",
    )

    def __init__(
        self,
        func: Callable[..., Any],
        steps: tuple[Step, ...],
        arg_keys: tuple[Hashable, ...],
        uses: frozenset[Hashable],
    ) -> None:
        self.func = func
        self.steps = steps
        self.arg_keys = arg_keys
        self.uses = uses
        self.func_is_async = is_async(func)
        self.steps_are_sync = not any(step.is_async for step in steps)
        self.is_sync = not self.func_is_async and self.steps_are_sync
        self.can_suspend = can_suspend(func) or any(step.can_suspend for step in steps)

    async def run(self, state: dict[Hashable, Any], *prefix: Any) -> Any:
        """Resolve what is missing from ``state``, then call the function (awaited if async)."""
        for step in self.steps:
            if step.key not in state:
                value = step.func(*[state[key] for key in step.arg_keys])
                if step.is_async:
                    value = await value
                state[step.key] = value
        result = self.func(*prefix, *[state[key] for key in self.arg_keys])
        if self.func_is_async:
            result = await result
        return result

    def start(self, state: dict[Hashable, Any], *prefix: Any) -> Awaitable[Any]:
        """Like :meth:`run`, but return what to await rather than awaiting it in a frame of
        its own: the coroutine of an async function whose steps are all sync (one suspended
        frame less per connection), else :meth:`run`'s."""
        if not (self.func_is_async and self.steps_are_sync):
            return self.run(state, *prefix)
        for step in self.steps:
            if step.key not in state:
                state[step.key] = step.func(*[state[key] for key in step.arg_keys])
        awaitable: Awaitable[Any] = self.func(*prefix, *[state[key] for key in self.arg_keys])
        return awaitable

    def run_sync(self, state: dict[Hashable, Any], *prefix: Any) -> Any:
        """Like :meth:`run`, for a plan whose ``is_sync`` is true."""
        for step in self.steps:
            if step.key not in state:
                state[step.key] = step.func(*[state[key] for key in step.arg_keys])
        return self.func(*prefix, *[state[key] for key in self.arg_keys])


class _Unresolvable(Exception):
    def __init__(self, parameter: inspect.Parameter, owner: str) -> None:
        self.parameter = parameter
        self.owner = owner


class Injector:
    """Builds :class:`Plan` objects from components and the keys the framework provides.

    ``components`` are searched in order, user components first, so a user component can
    replace a built-in one by providing the same annotation. Raises ``TypeError`` for anything
    that is not a ``Component`` instance (a ``Component`` class included: instantiate it).
    """

    def __init__(self, components: Iterable[Component]) -> None:
        if isinstance(components, str | bytes | Component | type):
            raise TypeError(f"components takes a list of Component instances, not {components!r}")
        self.components = list(components)
        for component in self.components:
            _check_component(component)
        self._by_annotation: dict[Any, Component] = {}
        self._check: Checker | None = None
        self._by_matching: list[Component] = []
        for component in self.components:
            if _overrides_matching(component):
                self._by_matching.append(component)
            else:
                self._by_annotation.setdefault(_resolve_return_annotation(component), component)

    def plan(
        self,
        func: Callable[..., Any],
        provided: Collection[Hashable],
        named: Mapping[str, Hashable] | None = None,
        skip_first: bool = False,
        check: Checker | None = None,
    ) -> Plan:
        """Plan the call of ``func``.

        ``provided`` holds the keys (usually types) whose values the framework puts in ``state``
        before running the plan; ``named`` maps parameter names to keys that resolve them by
        name (path parameters), and ``check(name, annotation)`` may return a function that
        validates such a value (its result is what the parameter gets); ``skip_first`` leaves
        out ``self`` of an unbound method. An ``X | None`` annotation nothing provides as such
        is resolved as ``X`` with a default of ``None``. Raises :class:`ConfigurationError`
        naming the function, the parameter and what may be asked for when a parameter cannot be
        resolved.
        """
        named = named or {}
        self._check = check
        steps: list[Step] = []
        uses: set[Hashable] = set()
        seen: set[Hashable] = set()
        params = list(signature(func).parameters.values())
        if skip_first:
            params = params[1:]
        owner = getattr(func, "__qualname__", repr(func))
        try:
            arg_keys = tuple(
                self._key_for(param, provided, named, steps, uses, seen, owner, ())
                for param in params
            )
        except _Unresolvable as exc:
            raise ConfigurationError(self._explain(exc, provided, named)) from None
        return Plan(func, tuple(steps), arg_keys, frozenset(uses))

    def _key_for(
        self,
        param: inspect.Parameter,
        provided: Collection[Hashable],
        named: Mapping[str, Hashable],
        steps: list[Step],
        uses: set[Hashable],
        seen: set[Hashable],
        owner: str,
        stack: tuple[Component, ...],
    ) -> Hashable:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise _Unresolvable(param, owner)
        if param.name in named:
            key = named[param.name]
            uses.add(key)
            checker = self._check(param.name, param.annotation) if self._check else None
            if checker is None:
                return key
            checked: Hashable = ("checked", key, _hashable(param.annotation))
            if checked not in seen:
                steps.append(Step(checked, checker, (key,)))
                seen.add(checked)
            return checked
        annotation = param.annotation
        if annotation in provided:
            uses.add(annotation)
            return annotation  # type: ignore[no-any-return]
        component = self._by_annotation.get(annotation)
        if component is None:
            for candidate in self._by_matching:
                if candidate.can_handle_parameter(param):
                    component = candidate
                    break
        if component is None:
            inner = _without_none(annotation)
            if inner is None:
                raise _Unresolvable(param, owner)
            default = None if param.default is param.empty else param.default
            try:
                return self._key_for(
                    param.replace(annotation=inner, default=default),
                    provided,
                    {},
                    steps,
                    uses,
                    seen,
                    owner,
                    stack,
                )
            except _Unresolvable:
                raise _Unresolvable(param, owner) from None
        if component in stack:
            chain = " -> ".join(type(c).__name__ for c in (*stack, component))
            raise ConfigurationError(f"Circular component dependency: {chain}")

        resolve = component.resolve  # type: ignore[attr-defined]
        sub_params = list(signature(resolve).parameters.values())
        wants_parameter = any(p.annotation is inspect.Parameter for p in sub_params)
        # A component that reads the requesting parameter resolves once per distinct parameter:
        # ``limit: str`` in a hook and ``limit: int = 10`` in the handler are two values.
        step_key: Hashable = (
            (component, param.name, param.annotation, _hashable(param.default))
            if wants_parameter
            else component
        )
        if step_key in seen:
            return step_key
        sub_owner = f"{type(component).__name__}.resolve"
        sub_keys: list[Hashable] = []
        for sub in sub_params:
            if sub.annotation is inspect.Parameter:
                sub_keys.append(("parameter", owner, param.name))
            else:
                sub_keys.append(
                    self._key_for(
                        sub, provided, {}, steps, uses, seen, sub_owner, (*stack, component)
                    )
                )
        func: Callable[..., Any] = resolve
        if wants_parameter:
            func = _bind_parameters(resolve, sub_keys, param)
            sub_keys = [k for k in sub_keys if not _is_parameter_key(k)]
        steps.append(Step(step_key, func, tuple(sub_keys)))
        seen.add(step_key)
        return step_key

    def _explain(
        self, exc: _Unresolvable, provided: Collection[Hashable], named: Mapping[str, Hashable]
    ) -> str:
        param = exc.parameter
        annotation = param.annotation
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            return (
                f"Cannot resolve parameter {param.name!r} of {exc.owner}: *args and **kwargs "
                "cannot be injected; name each parameter"
            )
        shown = (
            "no annotation"
            if annotation is inspect.Parameter.empty
            else f"annotation {_name(annotation)}"
        )
        on_offer = sorted(
            {_name(k) for k in provided if isinstance(k, type) or hasattr(k, "__supertype__")}
            | {_name(k) for k in self._by_annotation}
        )
        names = f"; path parameters here: {', '.join(sorted(named))}" if named else ""
        return (
            f"Cannot resolve parameter {param.name!r} ({shown}) of {exc.owner}. A parameter "
            f"can be: {SUPPORTED}; or one of {', '.join(on_offer)}; or what a Component you pass "
            f"to ASyncApp(components=...) returns{names}"
        )


#: What the built-in components resolve by a parameter's annotation and name, in words.
SUPPORTED = (
    "a query or path parameter of a plain type (str, int, float, bool, Decimal, UUID, date, "
    "datetime, time, timedelta, an Enum or a Literal), optionally as X | None, as list[X] (a "
    "repeated query parameter) or as Annotated[X, Field(...)] with constraints; the request "
    "body as a pydantic model, a dataclass or a TypedDict; a header, cookie or query value by "
    "the parameter's name (http.Header, http.Cookie, http.QueryParam)"
)


def _without_none(annotation: Any) -> Any:
    """``X`` for ``X | None`` / ``Optional[X]``, else ``None``."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    args = typing.get_args(annotation)
    rest = [a for a in args if a is not type(None)]
    return rest[0] if len(rest) == 1 and len(args) == 2 else None


def _is_parameter_key(key: Hashable) -> bool:
    return isinstance(key, tuple) and len(key) == 3 and key[0] == "parameter"


def _bind_parameters(
    resolve: Callable[..., Any], keys: list[Hashable], parameter: inspect.Parameter
) -> Callable[..., Any]:
    """Wrap ``resolve`` so that its ``inspect.Parameter`` arguments are filled in already."""
    positions = [i for i, k in enumerate(keys) if _is_parameter_key(k)]
    total = len(keys)

    if is_async(resolve):

        async def bound_async(*args: Any) -> Any:
            full = _merge(args, positions, total, parameter)
            return await resolve(*full)

        return bound_async

    def bound(*args: Any) -> Any:
        return resolve(*_merge(args, positions, total, parameter))

    return bound


def _merge(
    args: tuple[Any, ...], positions: list[int], total: int, parameter: inspect.Parameter
) -> list[Any]:
    full: list[Any] = []
    it = iter(args)
    for i in range(total):
        full.append(parameter if i in positions else next(it))
    return full


def _name(key: Any) -> str:
    return getattr(key, "__qualname__", None) or getattr(key, "__name__", None) or repr(key)


def _hashable(value: Any) -> Hashable:
    try:
        hash(value)
    except TypeError:
        return ("unhashable", id(value))
    return value  # type: ignore[no-any-return]
