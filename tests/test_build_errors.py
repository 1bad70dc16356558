"""Mistakes in building an app are refused when it is built, with a message saying what to fix."""

import inspect
from typing import Any

import pytest

from trio_apistar import ASyncApp, Component, Include, Route
from trio_apistar.exceptions import ConfigurationError


def get_item(item_id: int) -> dict[str, int]:
    return {"id": item_id}


def home() -> str:
    return "home"


# -- route typos ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/items/{item_id",
        "/items/item_id}",
        "/items/{{item_id}",
        "/items/{item_id}}",
        "/items/{item id}",
        "/items/{}",
        "/items/{item_id:number}",
    ],
)
def test_a_malformed_path_template_is_refused_naming_the_route(url: str) -> None:
    with pytest.raises(ConfigurationError, match="get_item") as refused:
        ASyncApp(routes=[Route(url, "GET", get_item)])
    assert repr(url) in str(refused.value)


def test_a_malformed_template_inside_an_include_is_refused_too() -> None:
    with pytest.raises(ConfigurationError, match=r"'/items/\{item_id'"):
        ASyncApp(routes=[Include("/api", "api", [Route("/items/{item_id", "GET", get_item)])])


@pytest.mark.parametrize("method", ["GTE", "POTS", "", "GET POST", "G/T"])
def test_an_unknown_method_is_refused_naming_the_route(method: str) -> None:
    with pytest.raises(ConfigurationError, match="home") as refused:
        Route("/", method, home)
    assert repr(method.upper()) in str(refused.value)


def test_a_misspelt_method_suggests_the_one_meant() -> None:
    with pytest.raises(ConfigurationError, match="did you mean 'GET'"):
        Route("/", "GTE", home)


@pytest.mark.parametrize(
    "method", ["get", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"]
)
def test_known_methods_are_accepted_in_any_case(method: str) -> None:
    assert Route("/", method, home).method == method.upper()


def test_a_method_that_is_not_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"method .* str"):
        Route("/", ["GET"], home)  # type: ignore[arg-type]


# -- wrong kinds of objects ----------------------------------------------------------------


def test_a_string_as_handler_says_a_callable_was_expected() -> None:
    with pytest.raises(TypeError, match=r"Route '/items'.*callable.*'get_item'"):
        Route("/items", "GET", "get_item")  # type: ignore[arg-type]


def test_a_url_that_is_not_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="URL"):
        Route(b"/items", "GET", get_item)  # type: ignore[arg-type]


def test_routes_that_are_not_a_list_are_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"list of Route and Include"):
        ASyncApp(routes=Route("/", "GET", home))  # type: ignore[arg-type]


def test_a_handler_in_the_routes_list_says_to_wrap_it_in_a_route() -> None:
    with pytest.raises(ConfigurationError, match=r"Route\(url, method, handler\)"):
        ASyncApp(routes=[home])  # type: ignore[list-item]


class Token(str):
    pass


class TokenComponent(Component):
    def resolve(self) -> Token:
        return Token("t")


def test_a_component_class_instead_of_an_instance_says_to_instantiate_it() -> None:
    with pytest.raises(TypeError, match=r"TokenComponent\(\)") as refused:
        ASyncApp(routes=[], components=[TokenComponent])  # type: ignore[list-item]
    assert "class" in str(refused.value)


def test_something_that_is_not_a_component_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"Component instances.*'token'"):
        ASyncApp(routes=[], components=["token"])  # type: ignore[list-item]


def test_a_component_instance_still_works() -> None:
    def show(token: Token) -> str:
        return token

    ASyncApp(routes=[Route("/", "GET", show)], components=[TokenComponent()])


def test_a_component_matching_by_parameter_is_accepted() -> None:
    class Anything(Component):
        def resolve(self, parameter: inspect.Parameter) -> Any:
            return parameter.name

        def can_handle_parameter(self, parameter: inspect.Parameter) -> bool:
            return parameter.name == "magic"

    def show(magic: bytes) -> str:
        return str(magic)

    ASyncApp(routes=[Route("/", "GET", show)], components=[Anything()])
