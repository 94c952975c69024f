"""Direct routes: FastAPI's declarations, resolved without its per-request dependency solving.

FastAPI builds each route's dependency tree once, but then walks it generically on every request: it re-inspects
every dependency (is it a generator? a security scheme? which scopes?), makes a response object per level and looks
every parameter's model, aliases and kind up again. For a command that costs more interpreter time than deciding the
command itself (``yipanqi bench gateway``; the server is bound by the interpreter lock). A ``DirectRoute`` compiles
the same tree once into a plan and resolves a request from it:

- the route's own and its dependencies' path, query and header parameters, validated by the very fields FastAPI
  made from the declarations (same rules, same error locations);
- the JSON body parsed and validated in one pass by pydantic (``model_validate_json``), where FastAPI parses it with
  the ``json`` module and then validates the result; a body that fails is parsed and validated again FastAPI's way,
  so that its errors read the same;
- its dependencies awaited in declaration order, each at most once per request; errors collected in FastAPI's order.

What stays FastAPI's: the declarations, so OpenAPI and the validation rules are unchanged; routing; the middleware
and the exception handlers. A route whose tree uses anything beyond that subset (a sync or generator dependency,
cookies, security scopes, sequences of parameters, an endpoint that does not answer with a ``Response`` of its own)
keeps FastAPI's handler, as does every request while ``app.dependency_overrides`` is set (tests) or when
``YIPANQI_GATEWAY_DIRECT=0`` (to rule this module out when in doubt). ``tests/integration/test_api_direct.py``
checks that both handlers answer alike.
"""

from __future__ import annotations

import inspect
import json
import os
import types
import typing
from collections.abc import Callable, Coroutine
from collections.abc import Sequence as AbcSequence
from collections.abc import Set as AbstractSet
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

import fastapi.routing
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
_SOURCES = {"path": "path_params", "query": "query_params", "header": "headers"}
_MISSING = object()


@dataclass(frozen=True)
class _Param:
    name: str  # the keyword the callable takes
    key: str  # where the request carries it
    source: str  # path, query or header
    field: Any  # FastAPI's ModelField for it

    def resolve(self, request: Request, values: dict[str, Any], errors: list[Any]) -> None:
        raw = getattr(request, _SOURCES[self.source]).get(self.key, _MISSING)
        value, problems = _validated(self.field, raw, (self.source, self.key))
        if problems:
            errors.extend(problems)
        else:
            values[self.name] = value


@dataclass(frozen=True)
class _Plan:
    """One dependant (the endpoint or a dependency) compiled: what to resolve before calling it."""

    call: Callable[..., Any]
    name: str | None  # the keyword its value is passed as (None: a dependency run for its effect only)
    dependencies: tuple[_Plan, ...]
    params: tuple[_Param, ...]
    request_names: tuple[str, ...]  # the keywords that take the request itself

    async def solve(self, request: Request, solved: dict[Any, Any], errors: list[Any]) -> dict[str, Any] | None:
        """The keywords to call this dependant with, or None if some of its inputs were invalid (then in errors)."""
        values: dict[str, Any] = {}
        failed = False
        for dependency in self.dependencies:
            if dependency.call in solved:
                value = solved[dependency.call]
            else:
                kwargs = await dependency.solve(request, solved, errors)
                if kwargs is None:
                    failed = True
                    continue
                value = solved[dependency.call] = await dependency.call(**kwargs)
            if dependency.name is not None:
                values[dependency.name] = value
        before = len(errors)
        for param in self.params:
            param.resolve(request, values, errors)
        for name in self.request_names:
            values[name] = request
        return None if failed or len(errors) > before else values


class DirectRoute(APIRoute):
    """An ``APIRoute`` resolved from a compiled plan when its declarations allow (see the module's docstring)."""

    def get_route_handler(self) -> Handler:
        general = super().get_route_handler()
        if os.environ.get("YIPANQI_GATEWAY_DIRECT", "1") == "0":
            return general
        if not _answers_itself(self.endpoint):
            return general
        route = _as_included(self)
        try:
            plan = _compile(route.dependant, name=None)
            body = _body_plan(route)
        except (_Unsupported, AttributeError):  # AttributeError: a FastAPI whose dependants look otherwise
            return general

        async def direct(request: Request) -> Response:
            if request.app.dependency_overrides:
                return await general(request)
            body_value, body_errors = await _read_body(request, body) if body is not None else (None, [])
            errors: list[Any] = []
            values = await plan.solve(request, {}, errors)
            errors += body_errors
            if errors or values is None:  # values is None only when a dependency's inputs failed: in errors
                raise RequestValidationError(errors)
            if body is not None:
                values[body.name] = body_value
            return await plan.call(**values)  # type: ignore[no-any-return]

        return direct


# ---------------------------------------------------------------------------------------------------- compiling


class _Unsupported(Exception):
    """The route's declarations go beyond what a plan resolves: FastAPI's handler serves it."""


def _compile(dependant: Any, name: str | None) -> _Plan:
    call = dependant.call
    unsupported = (  # (a generator dependency is not a coroutine function: refused below)
        dependant.cookie_params,
        getattr(dependant, "websocket_param_name", None),
        dependant.response_param_name,
        dependant.background_tasks_param_name,
        dependant.security_scopes_param_name,
        getattr(dependant, "own_oauth_scopes", None),
        getattr(dependant, "concurrency", None),
    )
    if any(unsupported) or call is None or not _is_async(call) or not dependant.use_cache:
        raise _Unsupported
    params = tuple(
        _param(field, source)
        for source, fields in (
            ("path", dependant.path_params),
            ("query", dependant.query_params),
            ("header", dependant.header_params),
        )
        for field in fields
    )
    return _Plan(
        call=call,
        name=name,
        dependencies=tuple(_compile(sub, sub.name) for sub in dependant.dependencies),
        params=params,
        request_names=tuple(
            n for n in (dependant.request_param_name, getattr(dependant, "http_connection_param_name", None)) if n
        ),
    )


def _param(field: Any, source: str) -> _Param:
    info = field.field_info
    if info.validation_alias not in (None, field.alias) or _is_sequence(info.annotation) or _is_model(info.annotation):
        raise _Unsupported  # alias choices or paths, lists, parameter models
    if source == "header" and field.alias == field.name and "_" in field.name:
        raise _Unsupported  # FastAPI converts the underscores of such a header's name
    return _Param(name=field.name, key=field.alias, source=source, field=field)


@dataclass(frozen=True)
class _Body:
    name: str
    field: Any
    validate_json: Callable[[bytes], Any]  # the model's, or a union's of models (a type adapter's)


def _as_included(route: APIRoute) -> Any:
    """The route as included in the app (with the app's and the routers' dependencies), as FastAPI's own handler
    sees it. Since FastAPI 0.12x an included route is a context beside the declared one, made current while its
    handler is built; before, ``include_router`` copied the route with those dependencies."""
    context = getattr(fastapi.routing, "_effective_route_context_var", None)
    current = context.get() if context is not None else None
    return current if current is not None and current.original_route is route else route


def _body_plan(route: Any) -> _Body | None:
    field = route.body_field
    if field is None:
        return None
    params = route.dependant.body_params
    model = field.field_info.annotation
    strict = getattr(route, "strict_content_type", None)
    strict = getattr(strict, "value", strict)  # FastAPI's placeholder of its default
    if route._embed_body_fields or len(params) != 1 or not _of_models(model) or strict is not True:  # noqa: SLF001
        raise _Unsupported
    validate = model.model_validate_json if _is_model(model) else TypeAdapter(model).validate_json
    return _Body(name=params[0].name, field=field, validate_json=validate)


def _is_async(call: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(getattr(call, "__call__", None))  # noqa: B004


def _is_sequence(annotation: Any) -> bool:
    """Whether a parameter takes several values (list, tuple, set, Sequence[...], ..., also within a union)."""
    origin = typing.get_origin(annotation)
    if isinstance(origin, type) and issubclass(origin, (AbcSequence, AbstractSet)) and not issubclass(origin, str | bytes):
        return True
    return any(_is_sequence(arg) for arg in typing.get_args(annotation) if arg is not type(None))


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _of_models(annotation: Any) -> bool:
    """A model, or a (discriminated) union of models (``Annotated`` or not)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _of_models(typing.get_args(annotation)[0])
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return all(_of_models(arg) for arg in typing.get_args(annotation))
    return _is_model(annotation)


def _answers_itself(endpoint: Callable[..., Any]) -> bool:
    """Whether the endpoint returns a ``Response`` (so no response model is applied to what it returns)."""
    try:
        returns = typing.get_type_hints(endpoint).get("return")
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: not ours to judge
        return False
    return isinstance(returns, type) and issubclass(returns, Response)


# ---------------------------------------------------------------------------------------------------- resolving


def _validated(field: Any, raw: Any, loc: tuple[str, ...]) -> tuple[Any, list[Any]]:
    """As FastAPI validates a parameter: a missing one is an error if required, else its default."""
    if raw is _MISSING:
        if field.field_info.is_required():
            return None, [{"type": "missing", "loc": loc, "msg": "Field required", "input": None}]
        if not field.field_info.validate_default:
            return deepcopy(field.default), []
        raw = deepcopy(field.default)
    value, errors = field.validate(raw, {}, loc=loc)
    return value, list(errors or [])


async def _read_body(request: Request, body: _Body) -> tuple[Any, list[Any]]:
    """The body validated, or its errors (to be reported after the dependencies', as FastAPI does). Malformed JSON is
    raised at once: FastAPI answers it before running any dependency."""
    raw = await request.body()
    if not raw:
        return _validated(body.field, _MISSING, ("body",))
    if not _is_json(request.headers.get("content-type")):
        return _validated(body.field, raw, ("body",))  # FastAPI validates the unparsed bytes: the model refuses them
    try:
        return body.validate_json(raw), []
    except ValidationError:
        pass  # answered as FastAPI answers it: its messages differ in places from those of pydantic's JSON mode
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as e:
        error = {"type": "json_invalid", "loc": ("body", e.pos), "msg": "JSON decode error", "input": {}, "ctx": {"error": e.msg}}
        raise RequestValidationError([error], body=e.doc) from None
    except (ValueError, RecursionError) as e:  # no text in any encoding JSON allows, an integer of over 4,300 digits,
        # or nesting deeper than the interpreter's recursion limit: FastAPI's handler answers any of them so
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from e
    return _validated(body.field, parsed, ("body",))


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    main, _, sub = kind.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))
