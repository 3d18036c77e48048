"""Sources: a real git repository in a temp dir, each commit materialized whole at a branch and a path."""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import git
import pytest

from controller.sources import load_revision
from controller.sources.git import GitSource
from controller.sources.tree import Budget
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


def test_the_first_commit_is_materialized_whole_at_the_branch_and_path(tmp_path):
    origin = make_repo(tmp_path)
    data = Path(origin.working_dir) / "specs" / "data" / "x.csv"
    data.parent.mkdir()
    data.write_text("a,b\n1,2\n")
    (Path(origin.working_dir) / "specs" / "net.py").write_text("def model(**kw):\n    return None\n")
    origin.git.add(A=True)
    sha = origin.index.commit("data and a module").hexsha
    revision = GitSource(str(origin.working_dir), tmp_path / "state", branch="main", path="specs").fetch()
    assert revision.id == sha and revision.summary == "data and a module"
    files = sorted(p.relative_to(revision.root).as_posix() for p in revision.root.rglob("*") if p.is_file())
    assert files == ["data/x.csv", "dataset.yaml", "fleets.yaml", "model.yaml", "net.py", "profiles.yaml"]
    assert (revision.root / "data" / "x.csv").read_text() == "a,b\n1,2\n"
    repo = load_revision(revision)
    assert repo.valid and set(repo.fleets) == {"digits-mcu", "digits-linux"}


def test_each_commit_gets_its_own_tree_and_a_pruned_one_comes_back(tmp_path):
    origin = make_repo(tmp_path)
    source = GitSource(str(origin.working_dir), tmp_path / "state", path="specs")
    first = source.fetch()
    fleets = Path(origin.working_dir) / "specs" / "fleets.yaml"
    fleets.write_text(fleets.read_text().replace("canary: 1", "canary: 2"))
    origin.index.add([str(fleets)])
    second_sha = origin.index.commit("canary of two").hexsha
    second = source.fetch()
    assert second.id == second_sha != first.id and second.root != first.root
    assert "canary: 2" in (second.root / "fleets.yaml").read_text()
    assert "canary: 1" in (first.root / "fleets.yaml").read_text()  # the older tree is untouched
    source.prune(keep={second.id})
    assert first.root.exists()  # the most recent few are kept anyway
    shutil.rmtree(first.root)
    again = source.revision(first.id)
    assert again is not None and "canary: 1" in (again.root / "fleets.yaml").read_text()
    assert source.revision("0" * 40) is None


def test_a_tree_over_its_byte_budget_is_refused_without_being_written(tmp_path):
    origin = make_repo(tmp_path)
    big = Path(origin.working_dir) / "specs" / "zeros.bin"
    with open(big, "wb") as f:  # compresses to almost nothing in git
        f.truncate(3 * 1024 * 1024)
    origin.git.add(A=True)
    origin.index.commit("a large data file")
    source = GitSource(str(origin.working_dir), tmp_path / "state", path="specs", budget=Budget(bytes=1024 * 1024))
    with pytest.raises(SourceError, match="larger than"):
        source.fetch()
    assert not any((tmp_path / "state" / "revisions").iterdir())  # nothing half-written is left


def test_an_invalid_commit_is_reported_with_file_and_line(tmp_path):
    origin = make_repo(tmp_path)
    model = Path(origin.working_dir) / "specs" / "model.yaml"
    model.write_text(model.read_text().replace("epochs: 30", "epochs: -3"))
    origin.index.add([str(model)])
    origin.index.commit("break it")
    repo = load_revision(GitSource(str(origin.working_dir), tmp_path / "clone", path="specs").fetch())
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
