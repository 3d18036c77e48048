"""Accessibility checks for the browser tests: axe-core (from the npm registry at test time, unpacked
into a temporary directory, never vendored in the repository) and a smaller set of equivalent checks
of our own that run in the page whether or not axe-core could be fetched (offline)."""
from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

AXE_PACKAGE = "axe-core@4"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def fetch_axe(directory: Path) -> str | None:
    """axe.min.js from the npm registry (`npm pack`, no install scripts run), or None when npm or
    the registry is not reachable; the caller runs the checks of its own either way."""
    npm = shutil.which("npm")
    if npm is None:
        return None
    try:
        done = subprocess.run([npm, "pack", AXE_PACKAGE, "--silent", "--pack-destination", str(directory)],
                              cwd=directory, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    tarballs = sorted(directory.glob("axe-core-*.tgz"))
    if done.returncode != 0 or not tarballs:
        return None
    with tarfile.open(tarballs[-1]) as tar:
        member = tar.extractfile("package/axe.min.js")
        return member.read().decode() if member else None


def axe_violations(page, source: str) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the page, one line each (rule: the first failing nodes)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=source)
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    return [f"{v['id']}: {v['help']} ({', '.join(n['target'][0] for n in v['nodes'][:3])})"
            for v in result["violations"]]


OWN_CHECKS = (Path(__file__).parent / "accessibility_checks.js").read_text()


def own_problems(page) -> list[str]:
    return page.evaluate(OWN_CHECKS)
