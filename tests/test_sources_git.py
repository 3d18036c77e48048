"""Sources: a real git repository in a temp dir, read at a branch and a path, without a checkout."""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import git
import pytest

from controller.sources import load_snapshot
from controller.sources.git import GitSource
from specs.errors import SourceError
from tests.conftest import EXAMPLES


def make_repo(tmp_path: Path, subdir: str = "specs") -> git.Repo:
    origin = tmp_path / "origin"
    shutil.copytree(EXAMPLES / "digits-mixed", origin / subdir)
    (origin / "README.md").write_text("not a spec\n")
    repo = git.Repo.init(origin, initial_branch="main")
    repo.git.add(A=True)
    repo.index.commit("initial specs")
    return repo


def test_fetch_reads_the_branch_and_path_and_records_the_sha(tmp_path):
    origin = make_repo(tmp_path)
    source = GitSource(str(origin.working_dir), tmp_path / "clone", branch="main", path="specs")
    snap = source.fetch()
    assert snap.revision == origin.head.commit.hexsha and snap.summary == "initial specs"
    assert sorted(name for name, _, _ in snap.texts) == ["dataset.yaml", "fleets.yaml", "model.yaml", "profiles.yaml"]
    repo = load_snapshot(snap)
    assert repo.valid and set(repo.fleets) == {"digits-mcu", "digits-linux"}
    assert not (tmp_path / "clone" / "specs").exists()  # nothing checked out to validate


def test_a_new_commit_is_seen_on_the_next_fetch_and_materialize_checks_it_out(tmp_path):
    origin = make_repo(tmp_path)
    source = GitSource(str(origin.working_dir), tmp_path / "clone", path="specs")
    first = source.fetch()
    fleets = Path(origin.working_dir) / "specs" / "fleets.yaml"
    fleets.write_text(fleets.read_text().replace("canary: 1", "canary: 2"))
    origin.index.add([str(fleets)])
    second_sha = origin.index.commit("canary of two").hexsha
    second = source.fetch()
    assert second.revision == second_sha != first.revision
    root = source.materialize(second)
    assert "canary: 2" in (root / "fleets.yaml").read_text()


def test_an_invalid_commit_is_reported_with_file_and_line(tmp_path):
    origin = make_repo(tmp_path)
    model = Path(origin.working_dir) / "specs" / "model.yaml"
    model.write_text(model.read_text().replace("epochs: 30", "epochs: -3"))
    origin.index.add([str(model)])
    origin.index.commit("break it")
    repo = load_snapshot(GitSource(str(origin.working_dir), tmp_path / "clone", path="specs").fetch())
    assert not repo.valid
    assert any(i.file == "model.yaml" and i.field == "spec.training.epochs" for i in repo.issues)


def test_missing_branch_and_path_and_url_are_source_errors(tmp_path):
    origin = make_repo(tmp_path)
    with pytest.raises(SourceError, match="no branch 'nope'"):
        GitSource(str(origin.working_dir), tmp_path / "c1", branch="nope").fetch()
    with pytest.raises(SourceError, match="--path"):
        GitSource(str(origin.working_dir), tmp_path / "c2", path="missing").fetch()
    with pytest.raises(SourceError, match="cannot clone"):
        GitSource(str(tmp_path / "no-such-repo"), tmp_path / "c3").fetch()


def test_trigger_wakes_the_watcher_before_the_interval(tmp_path):
    origin = make_repo(tmp_path)
    source = GitSource(str(origin.working_dir), tmp_path / "clone", interval=3600)
    woke, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=source.watch, args=(woke.set, stop), daemon=True)
    thread.start()
    source.trigger()
    assert woke.wait(5)
    stop.set()
    source.trigger()
    thread.join(5)
    assert not thread.is_alive()
