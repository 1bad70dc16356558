"""Every Python example in README.md and docs/*.md passes ``mypy --strict``, as users' code will.

A block whose first line names a file in a folder (``# myproject/app.py``) is that file of an
example project (docs/testing.md); the other blocks of a document are one module, in order, as
tests/test_docs.py runs them.
"""

import re
from pathlib import Path

import mypy.api
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def lay_out(document: Path, into: Path) -> list[Path]:
    """Write the document's examples under ``into``; return the files written."""
    blocks = re.findall(r"```python\n(.*?)```", document.read_text(), flags=re.DOTALL)
    written: list[Path] = []
    loose: list[str] = []
    for block in blocks:
        first, _, rest = block.partition("\n")
        named = re.fullmatch(r"# (\w+/[\w/]+\.py)", first)
        if named is None:
            loose.append(block)
            continue
        path = into / named.group(1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rest)
        written.append(path)
    if loose:
        module = into / f"{document.stem.lower().replace('-', '_')}_examples.py"
        module.write_text("\n\n".join(loose))
        written.append(module)
    return written


def test_every_documented_example_passes_mypy_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [file for document in DOCUMENTS for file in lay_out(document, tmp_path)]
    assert len(files) >= len(DOCUMENTS)
    monkeypatch.chdir(tmp_path)  # the example project's packages are found from here
    cache = ROOT / ".mypy_cache" / "docs"  # git-ignored; a warm cache makes this take seconds
    stdout, stderr, status = mypy.api.run(
        [
            "--strict",
            "--explicit-package-bases",
            "--python-version=3.11",
            f"--cache-dir={cache}",
            *(str(file.relative_to(tmp_path)) for file in files),
        ]
    )
    assert status == 0, stdout + stderr
