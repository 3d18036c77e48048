"""Sources: a local directory watched with watchdog; a burst of writes is one notification."""
from __future__ import annotations

import shutil
import threading
import time

from controller.sources import load_revision
from controller.sources.local import LocalSource
from tests.conftest import EXAMPLES


def test_revision_is_a_digest_of_the_whole_tree(tmp_path):
    shutil.copytree(EXAMPLES / "digits-mixed", tmp_path / "specs")
    source = LocalSource(tmp_path / "specs")
    a, b = source.fetch(), source.fetch()
    assert a.id == b.id and a.id.startswith("local:") and a.root == tmp_path / "specs"
    assert load_revision(a).valid
    (tmp_path / "specs" / "data.csv").write_text("x,y\n1,a\n")  # a data file is part of the revision
    with_data = source.fetch()
    assert with_data.id != a.id
    (tmp_path / "specs" / "data.csv").write_text("x,y\n2,a\n")
    assert source.fetch().id != with_data.id


def test_each_revision_is_copied_so_a_pass_reads_one_consistent_tree(tmp_path):
    shutil.copytree(EXAMPLES / "digits-mixed", tmp_path / "specs")
    (tmp_path / "specs" / "data").mkdir()
    (tmp_path / "specs" / "data" / "x.csv").write_text("a,b\n1,2\n")
    source = LocalSource(tmp_path / "specs", workdir=tmp_path / "state")
    first = source.fetch()
    assert first.root != tmp_path / "specs" and (first.root / "data" / "x.csv").read_text() == "a,b\n1,2\n"
    (tmp_path / "specs" / "data" / "x.csv").write_text("a,b\n3,4\n")  # the user keeps editing
    assert (first.root / "data" / "x.csv").read_text() == "a,b\n1,2\n"
    second = source.fetch()
    assert second.id != first.id and (second.root / "data" / "x.csv").read_text() == "a,b\n3,4\n"
    assert source.revision(first.id).root == first.root


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
