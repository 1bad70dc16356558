"""Typed handlers: bodies, constrained parameters, typed results and typed WebSocket messages."""

import dataclasses
import datetime
import enum
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from trio_apistar import ASyncApp, Route, WebSocket, http
from trio_apistar.apidocs import docs_routes
from trio_apistar.exceptions import WebSocketValidationError


class Dimensions(BaseModel):
    width: float
    height: float


class Product(BaseModel):
    """Something for sale."""

    name: str = Field(min_length=1)
    price: Decimal = Field(ge=0)
    tags: list[str] = []
    size: Dimensions | None = None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str


class StoredProduct(Product):
    id: int
    secret: str = "never shown"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Tag(TypedDict):
    label: str
    weight: float


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Deep(BaseModel):
    child: "Deep | None" = None


class Update(BaseModel):
    """What the stream sends back for each product."""

    name: str
    total: Decimal


def create(product: Product) -> StoredProduct:
    """Create a product."""
    return StoredProduct(id=1, **product.model_dump())


def create_many(products: list[Product]) -> list[Product]:
    return products


def strict(item: Strict) -> dict[str, str]:
    return {"name": item.name}


def point(p: Point) -> Point:
    return p


def tag(t: Tag) -> Tag:
    return t


def deep(d: Deep) -> dict[str, bool]:
    return {"ok": True}


def maybe(product: Product | None = None) -> dict[str, str | None]:
    return {"name": product.name if product else None}


def page(
    page: Annotated[int, Field(ge=1)] = 1,
    ids: list[int] | None = None,
    tags: list[str] = [],  # noqa: B006  a default is never mutated
    price: Decimal | None = None,
    color: Color = Color.RED,
    day: datetime.date | None = None,
    order: Literal["asc", "desc"] = "asc",
) -> dict[str, object]:
    return {
        "page": page,
        "ids": ids,
        "tags": tags,
        "price": str(price) if price is not None else None,
        "color": color.value,
        "day": day.isoformat() if day else None,
        "order": order,
    }


def item(item_id: Annotated[int, Field(ge=1, le=1000)]) -> dict[str, int]:
    return {"id": item_id}


def by_uuid(key: uuid.UUID) -> dict[str, str]:
    return {"key": str(key), "type": type(key).__name__}


def optional_markers(
    q: http.QueryParam | None = None,
    user_agent: http.Header | None = None,
    session: http.Cookie | None = None,
    limit: int | None = None,
) -> dict[str, object]:
    return {"q": q, "user_agent": user_agent, "session": session, "limit": limit}


def found(product_id: int) -> Product | None:
    if product_id == 0:
        return None
    return Product(name="found", price=Decimal("1.5"))


def lies() -> Product:
    return {"name": ""}  # type: ignore[return-value]  # the test of a result of the wrong type


async def stream(ws: WebSocket) -> None:
    """Receive products, answer each with a running total; report invalid ones and go on."""
    await ws.connect()
    total = Decimal(0)
    while True:
        try:
            product = await ws.receive_json(Product)
        except WebSocketValidationError as exc:
            await ws.send_json({"errors": exc.errors})
            continue
        total += product.price
        await ws.send_json(Update(name=product.name, total=total))


async def strict_stream(ws: WebSocket) -> None:
    """Receive products without catching errors: an invalid one closes the socket (1007)."""
    await ws.connect()
    async for product in ws.iter_json(Product):
        await ws.send_json(product)


async def untyped(ws: WebSocket) -> None:
    await ws.connect()
    while True:
        await ws.send_json(await ws.receive_json())


routes = [
    Route("/products", "POST", create),
    Route("/products/many", "POST", create_many),
    Route("/strict", "POST", strict),
    Route("/point", "POST", point),
    Route("/tag", "POST", tag),
    Route("/deep", "POST", deep),
    Route("/maybe", "POST", maybe),
    Route("/page", "GET", page),
    Route("/items/{item_id}", "GET", item),
    Route("/keys/{key}", "GET", by_uuid),
    Route("/optional", "GET", optional_markers),
    Route("/found/{product_id}", "GET", found),
    Route("/lies", "GET", lies),
    Route("/stream", "GET", stream, receives=Product, sends=[Update]),
    Route("/strict-stream", "GET", strict_stream, receives=Product, sends=Product),
    Route("/untyped", "GET", untyped),
]

app = ASyncApp(routes=routes)

#: The same routes with the documentation pages, for the browser test.
docs_app = ASyncApp(routes=[*routes, *docs_routes("/docs", title="Shop", version="2.0")])
