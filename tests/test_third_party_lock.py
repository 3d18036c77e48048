"""The pinned third-party tree (issue 13): the lock verifies the tree CI builds from, a hand-edited
or absent folder is named, and `fetch` rebuilds folders from git upstreams (real repositories in temp
dirs standing in for GitHub, which this machine cannot reach), installing a folder only when its
digest is the lock's."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from controller.cli.main import main
from controller.firmware.third_party import LockEntry
from controller.firmware.third_party import ThirdPartyError
from controller.firmware.third_party import fetch_tree
from controller.firmware.third_party import folder_digest
from controller.firmware.third_party import load_lock
from controller.firmware.third_party import sources_digests
from controller.firmware.third_party import verify_tree
from tests.firmware_rig import needs_third_party


def shared_tree() -> Path:
    from controller.firmware.tflm_library import third_party_root

    return third_party_root().root


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", "-c", "user.email=t@example.org", "-c", "user.name=t", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


def upstream_repo(path: Path, files_from: Path, extra: dict[str, str] | None = None, tag: str | None = None) -> str:
    """A git repository holding a copy of `files_from` (plus `extra` files); its HEAD commit."""
    shutil.copytree(files_from, path)
    for name, text in (extra or {}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git("init", "-q", cwd=path)
    git("add", "-A", cwd=path)
    git("commit", "-qm", "upstream", cwd=path)
    if tag:
        git("tag", tag, cwd=path)
    return git("rev-parse", "HEAD", cwd=path)


@needs_third_party
def test_the_lock_matches_the_tree_firmware_builds_use():
    check = verify_tree(shared_tree())
    assert check.ok, [f.to_dict() for f in check.problems()]
    assert {f.name for f in check.folders} == {"tflite-micro", "flatbuffers", "gemmlowp", "ruy", "kissfft", "cmsis",
                                               "cmsis-nn", "monocypher"}


@needs_third_party
def test_an_edited_or_absent_folder_is_named_and_verify_exits_1(tmp_path, capsys):
    tree = tmp_path / "tp"
    shutil.copytree(shared_tree() / "monocypher", tree / "monocypher")
    source = tree / "monocypher" / "src" / "monocypher.c"
    source.write_bytes(source.read_bytes().replace(b"crypto_", b"crypt0_", 1))
    check = verify_tree(tree)
    by_name = {f.name: f.status for f in check.folders}
    assert by_name["monocypher"] == "differs" and by_name["tflite-micro"] == "missing"
    assert main(["third-party", "verify", "--path", str(tree), "-o", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert not out["ok"] and {f["name"]: f["status"] for f in out["folders"]}["monocypher"] == "differs"


@needs_third_party
def test_a_hand_edited_tree_gets_its_own_library_key(tmp_path):
    tree = tmp_path / "tp"
    shutil.copytree(shared_tree() / "ruy", tree / "ruy")
    before, unlocked = sources_digests(tree, ("ruy",))
    assert unlocked == []
    header = tree / "ruy" / "ruy" / "profiler" / "instrumentation.h"
    header.write_text(header.read_text() + "\n// local change\n")
    after, unlocked = sources_digests(tree, ("ruy",))
    assert unlocked == ["ruy"] and after["ruy"] != before["ruy"]


def test_the_digest_ignores_git_metadata_and_caches_but_not_content(tmp_path):
    folder = tmp_path / "lib"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "a.c").write_text("int a;\n")
    first, count = folder_digest(folder)
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: x\n")
    (folder / "src" / "__pycache__").mkdir()
    (folder / "src" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert folder_digest(folder) == (first, count) and count == 1
    (folder / "src" / "a.c").write_text("int b;\n")
    assert folder_digest(folder)[0] != first


@needs_third_party
def test_fetch_rebuilds_a_folder_from_upstream_with_tflms_patch_and_verifies_it(tmp_path):
    """flatbuffers as TFLM takes it: upstream at a tag (here: the tree's folder with TFLM's patch undone,
    plus files TFLM does not keep), the patch applied, `include/` and the licence kept."""
    tp = shared_tree()
    patch = tp / "tflite-micro" / "tensorflow" / "lite" / "micro" / "tools" / "make" / "flatbuffers.patch"
    patches = tmp_path / "upstream-patches"
    patches.mkdir()
    shutil.copy(patch, patches / "flatbuffers.patch")
    patches_commit = upstream_repo(tmp_path / "patches-repo", patches)
    flat = tmp_path / "upstream-flatbuffers"
    upstream_repo(flat, tp / "flatbuffers", extra={"CMakeLists.txt": "project(flatbuffers)\n"})
    subprocess.run(["git", "apply", "-R", str(patch)], cwd=flat, check=True)
    git("commit", "-qam", "upstream v25", cwd=flat)
    git("tag", "v25.9.23", cwd=flat)
    lock = (LockEntry("patches", (tmp_path / "patches-repo").as_uri(), patches_commit,
                      folder_digest(patches)[0]),
            LockEntry("flatbuffers", flat.as_uri(), "v25.9.23", folder_digest(tp / "flatbuffers")[0],
                      keep=("LICENSE", "include"), patch="patches/flatbuffers.patch"))
    root = tmp_path / "fetched"
    report = fetch_tree(root, lock=lock)
    assert report.fetched == ["patches", "flatbuffers"]
    assert verify_tree(root, lock).ok
    assert not (root / "flatbuffers" / "CMakeLists.txt").exists()
    assert sorted(p.name for p in root.iterdir()) == ["flatbuffers", "patches"]  # no staging left
    again = fetch_tree(root, lock=lock)
    assert again.fetched == [] and again.already == ["patches", "flatbuffers"]


def test_fetch_refuses_what_does_not_match_the_lock_and_installs_nothing(tmp_path):
    """A mirror whose tag was moved to other content, and one without the pinned commit."""
    content = tmp_path / "content"
    (content / "src").mkdir(parents=True)
    (content / "src" / "lib.c").write_text("int verified;\n")
    digest = folder_digest(content)[0]
    good = upstream_repo(tmp_path / "good", content, tag="v1")
    (content / "src" / "lib.c").write_text("int tampered;\n")
    upstream_repo(tmp_path / "evil", content, tag="v1")
    by_tag = LockEntry("lib", (tmp_path / "good").as_uri(), "v1", digest)

    root = tmp_path / "tree"
    with pytest.raises(ThirdPartyError, match="does not match the lock") as refused:
        fetch_tree(root, lock=(by_tag,), mirrors={"lib": (tmp_path / "evil").as_uri()})
    assert str(tmp_path) not in str(refused.value)
    assert list(root.iterdir()) == []
    by_commit = LockEntry("lib", (tmp_path / "good").as_uri(), good, digest)
    with pytest.raises(ThirdPartyError, match="git fetch failed") as absent:
        fetch_tree(root, lock=(by_commit,), mirrors={"lib": (tmp_path / "evil").as_uri()})
    assert str(tmp_path) not in str(absent.value)
    assert fetch_tree(root, lock=(by_commit,)).fetched == ["lib"]
    (root / "lib" / "src" / "lib.c").write_text("int edited;\n")
    with pytest.raises(ThirdPartyError, match="exists and differs"):
        fetch_tree(root, lock=(by_commit,))


def test_the_lock_is_well_formed_and_a_bad_lock_is_refused(tmp_path):
    entries = load_lock()
    assert all(e.digest.startswith("sha256:") and e.url.startswith("https://") for e in entries)
    assert [e.name for e in entries].index("tflite-micro") < [e.name for e in entries].index("flatbuffers")
    bad = tmp_path / "lock.json"
    bad.write_text(json.dumps({"folders": [{"name": "x", "url": "u", "ref": "r", "digest": "sha256:0",
                                            "keep": ["../../etc"]}]}))
    with pytest.raises(ThirdPartyError, match=r"folders\[0\]\.keep"):
        load_lock(bad)
