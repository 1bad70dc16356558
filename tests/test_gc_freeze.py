"""After startup, the app freezes what startup built (``gc.freeze``), once per process.

Each test runs in a fresh interpreter: freezing is a property of the process, and this one
has frozen long ago.
"""

import json
import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent(
    """
    import gc, json, sys
    import trio
    from trio_apistar import ASyncApp, Route
    from trio_apistar.test import TestClient

    built_at_startup = []

    def remember() -> None:
        built_at_startup.append(["a list made by an on_startup function"])  # gc-tracked

    def hello() -> dict[str, str]:
        return {"hello": "world"}

    def app(**options):
        return ASyncApp(routes=[Route("/", "GET", hello)], on_startup=[remember], **options)

    async def main() -> dict[str, object]:
        seen: dict[str, object] = {"before": gc.get_freeze_count()}
        async with TestClient(app(**json.loads(sys.argv[1]))) as client:
            seen["after_startup"] = gc.get_freeze_count()
            seen["status"] = (await client.get("/")).status_code
            seen["after_a_request"] = gc.get_freeze_count()
        async with TestClient(app(**json.loads(sys.argv[1]))) as client:
            seen["after_a_second_app"] = gc.get_freeze_count()
        made = built_at_startup[0]
        seen["startup_object_frozen"] = not any(o is made for o in gc.get_objects())
        return seen

    print(json.dumps(trio.run(main)))
    """
)


def _run(options: dict[str, object]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_startup_freezes_what_it_built_once() -> None:
    seen = _run({})
    assert seen["before"] == 0
    frozen = seen["after_startup"]
    assert isinstance(frozen, int) and frozen > 1000  # modules, classes, plans: thousands
    assert seen["status"] == 200
    # Requests and a second app freeze nothing more (frozen objects that die leave the count).
    assert seen["after_a_request"] <= frozen  # type: ignore[operator]
    assert seen["after_a_second_app"] <= frozen  # type: ignore[operator]
    assert seen["startup_object_frozen"] is True  # out of every generation gc walks


def test_gc_freeze_false_leaves_the_collector_alone() -> None:
    seen = _run({"gc_freeze": False})
    assert seen["before"] == seen["after_startup"] == seen["after_a_second_app"] == 0
    assert seen["startup_object_frozen"] is False
