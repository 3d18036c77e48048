"""Sources: a local directory watched with watchdog; a burst of writes is one notification."""
from __future__ import annotations

import shutil
import threading
import time

from controller.sources import load_snapshot
from controller.sources.local import LocalSource
from tests.conftest import EXAMPLES


def test_revision_is_a_content_digest(tmp_path):
    shutil.copytree(EXAMPLES / "digits-mixed", tmp_path / "specs")
    source = LocalSource(tmp_path / "specs")
    a, b = source.fetch(), source.fetch()
    assert a.revision == b.revision and a.revision.startswith("local:")
    assert load_snapshot(a).valid
    (tmp_path / "specs" / "notes.txt").write_text("ignored")
    assert source.fetch().revision == a.revision
    f = tmp_path / "specs" / "fleets.yaml"
    f.write_text(f.read_text().replace("canary: 1", "canary: 3"))
    assert source.fetch().revision != a.revision


def test_a_burst_of_writes_is_debounced_into_one_notification(tmp_path):
    shutil.copytree(EXAMPLES / "digits-mixed", tmp_path / "specs")
    source = LocalSource(tmp_path / "specs", debounce=0.4)
    calls: list[float] = []
    stop = threading.Event()
    thread = threading.Thread(target=source.watch, args=(lambda: calls.append(time.monotonic()), stop), daemon=True)
    thread.start()
    time.sleep(0.5)  # the observer is scheduled
    f = tmp_path / "specs" / "fleets.yaml"
    for i in range(5):
        f.write_text(f.read_text() + f"\n# edit {i}\n")
        time.sleep(0.05)
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # room for stray extra notifications
    stop.set()
    thread.join(5)
    assert len(calls) == 1
