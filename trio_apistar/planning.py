"""Plans for every route and hook, made once when ``ASyncApp`` is built.

For each route: which kind of connection it serves (a handler asking for ``WebSocket`` serves
WebSockets), its handler's injection plan, the hooks that run for it and everything they use,
so that per connection nothing is looked up by name or annotation again. Unresolvable
parameters are ``ConfigurationError`` here, at build time. Pure Python: what the connection
itself offers (ASGI scope, nurseries, ...) comes in as ``base`` keys.
"""

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pydantic

from . import validation
from .exceptions import ConfigurationError
from .http import Body, Response
from .injector import Injector, Plan, signature
from .routing import Route, Router
from .websocket import WebSocket

__all__ = ["HOOK_NAMES", "HookPlan", "Planner", "RoutePlan"]

HOOK_NAMES = ("on_request", "on_response", "on_error")

#: What each hook may ask for beyond what the connection offers.
_HOOK_EXTRAS: dict[str, tuple[Hashable, ...]] = {
    "on_request": (),
    "on_response": (Response,),
    "on_error": (Exception,),
}


@dataclass
class HookPlan:
    """One hook method, planned; ``index`` is its hook's place in ``event_hooks``."""

    index: int
    plan: Plan


@dataclass
class RoutePlan:
    """Everything a route needs per connection, decided when the app is built."""

    kind: str
    handler: Plan
    on_request: list[HookPlan]
    on_response: list[HookPlan]
    on_error: list[HookPlan]
    uses: frozenset[Hashable]
    named: dict[str, Any]
    inline: bool = False
    path_keys: tuple[tuple[str, Hashable], ...] = field(default=())


class Planner:
    """Plans the hooks (per kind of connection), every route of ``router``, and errors.

    ``base`` holds what every connection provides; ``needs_task`` what a route may only get
    inside a task of its own (so a route using none of it, whose handler and hooks cannot
    suspend, runs inline).
    Raises ``ConfigurationError`` for anything that cannot be resolved.
    """

    def __init__(
        self,
        router: Router,
        injector: Injector,
        event_hooks: Sequence[Any],
        base: frozenset[Hashable],
        needs_task: frozenset[Hashable],
    ) -> None:
        self.router = router
        self.injector = injector
        self.event_hooks = event_hooks
        self._base = base
        self._needs_task = needs_task
        self.hooks = {kind: self._plan_hooks(kind) for kind in ("http", "websocket")}
        self._check_hooks_run_somewhere()
        self.routes = {
            c.route: self._plan_route(c.route, list(c.converters)) for c in router.routes
        }
        self.no_route = self._plan_no_route()

    def provided(self, kind: str, *extra: Hashable) -> frozenset[Hashable]:
        """What a connection of ``kind`` offers, plus ``extra``."""
        # A WebSocket's handshake is a GET request without a body: ``http.Request`` and the
        # like resolve on WebSockets too, with an empty ``Body``.
        return self._base | {Body, *extra} | ({WebSocket} if kind == "websocket" else set())

    def _plan_hooks(self, kind: str) -> dict[str, list[HookPlan]]:
        """Plan every hook method for one kind of connection, in the order they run.

        A method asking for what only the other kind has (``WebSocket`` on HTTP,
        ``http.Response`` on a WebSocket) is not run for this kind; anything else it cannot
        get is a ``ConfigurationError``, never a hook silently skipped (it may be an auth check).
        """
        other_kind = WebSocket if kind == "http" else Response
        everything = self.provided("websocket", Response, Exception)
        planned: dict[str, list[HookPlan]] = {name: [] for name in HOOK_NAMES}
        for index, hook in enumerate(self.event_hooks):
            cls = hook if isinstance(hook, type) else type(hook)
            for name in HOOK_NAMES:
                method = getattr(cls, name, None)
                if method is None:
                    continue
                wanted = self.injector.plan(method, everything, skip_first=True)
                if other_kind in wanted.uses:
                    continue
                extra = [k for k in _HOOK_EXTRAS[name] if k is not other_kind]
                plan = self.injector.plan(method, self.provided(kind, *extra), skip_first=True)
                planned[name].append(HookPlan(index, plan))
        planned["on_response"].reverse()
        planned["on_error"].reverse()
        return planned

    def _check_hooks_run_somewhere(self) -> None:
        for index, hook in enumerate(self.event_hooks):
            cls = hook if isinstance(hook, type) else type(hook)
            for name in HOOK_NAMES:
                if getattr(cls, name, None) is None:
                    continue
                if not any(h.index == index for kind in self.hooks.values() for h in kind[name]):
                    raise ConfigurationError(
                        f"{cls.__qualname__}.{name} asks for both a WebSocket and an HTTP "
                        "response, so it would never run"
                    )

    def _plan_route(self, route: Route, params: list[str]) -> RoutePlan:
        named = {name: ("path", name) for name in params}
        handler = self.injector.plan(
            route.handler, self.provided("websocket"), named, check=validation.param_checker
        )
        kind = "websocket" if WebSocket in handler.uses else "http"
        if kind == "http":
            handler = _typed_output(handler, route)
        hooks = self.hooks[kind]
        uses = set(handler.uses)
        for name in HOOK_NAMES:
            for hook in hooks[name]:
                uses |= hook.plan.uses
        plans = [handler, *(h.plan for name in HOOK_NAMES for h in hooks[name])]
        # Plain functions and coroutine functions that await nothing run to their end when
        # called: nothing in them could notice the client leaving, so nothing watches for it.
        inline = (
            kind == "http"
            and not any(plan.can_suspend for plan in plans)
            and not uses & (self._needs_task | {Body})
        )
        return RoutePlan(
            kind,
            handler,
            hooks["on_request"],
            hooks["on_response"],
            hooks["on_error"],
            frozenset(uses),
            named,
            inline,
            tuple((name, key) for name, key in named.items()),
        )

    def _plan_no_route(self) -> RoutePlan:
        """The plan for error responses made before a handler runs (404, 405, 413, 426).

        Their ``on_response`` hooks run (a CORS hook must see the 405 an OPTIONS preflight
        gets), as in API Star, but no ``on_request``: nothing was routed. A hook with an HTTP
        ``on_request`` of its own is left out, since its pair never started (a timing hook would
        find nothing to time). ``Route`` is ``None`` when no route matched; the body is empty.
        """
        hooks = self.hooks["http"]
        paired = {hook.index for hook in hooks["on_request"]}
        on_response = [hook for hook in hooks["on_response"] if hook.index not in paired]
        uses = {key for hook in (*on_response, *hooks["on_error"]) for key in hook.plan.uses}
        nothing = self.injector.plan(lambda: None, ())
        return RoutePlan(
            "http",
            nothing,
            [],
            on_response,
            hooks["on_error"],
            frozenset(uses),
            {},
        )


def _typed_output(plan: Plan, route: Route) -> Plan:
    """The handler's plan, its result serialised by its return annotation when that names a
    model, dataclass or ``TypedDict`` (a ``Response`` or ``None`` passes as it is)."""
    annotation = signature(route.handler).return_annotation
    try:
        serialize = validation.output_serializer(annotation)
    except (TypeError, pydantic.PydanticUserError) as exc:
        raise ConfigurationError(
            f"{route.handler.__qualname__}: cannot serialise its return annotation "
            f"{annotation!r}: {exc}"
        ) from None
    if serialize is None:
        return plan
    handler = plan.func

    def render(result: Any) -> Any:
        if result is None or isinstance(result, Response):
            return result
        return Response(serialize(result), media_type="application/json")

    if plan.func_is_async:

        async def typed_async(*args: Any) -> Any:
            return render(await handler(*args))

        wrapped: Callable[..., Any] = typed_async
    else:

        def typed(*args: Any) -> Any:
            return render(handler(*args))

        wrapped = typed
    return Plan(wrapped, plan.steps, plan.arg_keys, plan.uses)
