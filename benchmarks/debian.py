"""Commands the benchmarks need from Debian packages (``wrk``, ``redis-server``): found on
``PATH``, or installed with ``apt-get`` first when they are missing and we can."""

import shutil
import subprocess


def ensure_command(command: str, package: str) -> str | None:
    """Return the path of ``command``, installing Debian's ``package`` first if it is missing
    and ``apt-get`` is there (each step bounded to 300 s).

    Returns ``None`` if it is still unavailable; never raises for a failed install.
    """
    found = shutil.which(command)
    if found is None and shutil.which("apt-get") is not None:
        for step in (["apt-get", "update"], ["apt-get", "install", "-y", package]):
            try:
                subprocess.run(step, check=True, capture_output=True, timeout=300)
            except (OSError, subprocess.SubprocessError):
                return None
        found = shutil.which(command)
    return found
