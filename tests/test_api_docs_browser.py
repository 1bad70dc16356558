"""The API documentation page in headless Chromium: it loads both documents and renders them."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from chromium import evaluate_until, running_chromium

from trio_apistar.test import LiveServer, run_hypercorn

pytestmark = [pytest.mark.network, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent

RENDERED = """JSON.stringify({
  state: document.body.dataset.state || null,
  title: document.getElementById("title").textContent,
  operations: Array.from(document.querySelectorAll("[data-operation]"), (s) => s.textContent),
  channels: Array.from(document.querySelectorAll("[data-channel]"), (s) => s.textContent),
  schemas: Array.from(document.querySelectorAll("[data-schema]"), (s) => s.dataset.schema),
})"""


@pytest.fixture
def docs_server() -> Iterator[LiveServer]:
    with run_hypercorn("tests.apps.types_app:docs_app", cwd=ROOT) as live:
        yield live


async def rendered(devtools_port: int, page_url: str) -> dict[str, Any]:
    """What the page shows once its script has finished (``data-state`` set)."""
    value = await evaluate_until(
        devtools_port,
        page_url,
        RENDERED,
        lambda value: bool(value and json.loads(value).get("state")),
    )
    shown: dict[str, Any] = json.loads(value)
    return shown


async def test_the_docs_page_renders_every_operation_channel_and_schema(
    docs_server: LiveServer,
) -> None:
    page_url = f"{docs_server.url}/docs"
    with trio.fail_after(20):
        async with running_chromium(page_url) as port:
            shown = await rendered(port, page_url)
    assert shown["state"] == "ready"
    assert shown["title"] == "Shop"
    create = next(text for text in shown["operations"] if text.startswith("post/products"))
    assert "Create a product." in create and "Body: Product-Input" in create
    assert any("/items/{item_id}" in text and "item_id" in text for text in shown["operations"])
    stream = next(text for text in shown["channels"] if "/stream" in text)
    assert "client sendsProduct" in stream and "server sendsUpdate" in stream
    assert {"Product-Input", "StoredProduct", "Update", "ValidationError"} <= set(shown["schemas"])
