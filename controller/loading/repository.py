"""A spec repository: every document under a directory, validated as one set."""
from __future__ import annotations

import os
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from controller.limits import DEFAULT_LIMITS
from controller.limits import Limits
from controller.limits import exceeds
from controller.limits import show_bytes
from controller.loading.budgets import check_budgets
from controller.loading.confinement import RefusedPath
from controller.loading.confinement import confine
from controller.loading.data_files import check_data_files
from controller.loading.data_files import check_data_paths
from controller.loading.documents import LoadedDocument
from controller.loading.documents import parse_document
from controller.loading.entry_points import check_entry_point_options
from controller.loading.entry_points import check_entry_points
from controller.loading.entry_points import repository_code_notices
from controller.loading.issues import SpecIssue
from controller.loading.overlaps import check_fleet_overlaps
from controller.loading.references import check_duplicates
from controller.loading.references import check_references
from controller.loading.task_checks import check_task_figures
from controller.loading.yaml_positions import read_yaml
from specs.errors import SpecError
from specs.errors import UsageError
from specs.v1alpha1 import Dataset
from specs.v1alpha1 import DeviceProfile
from specs.v1alpha1 import Fleet
from specs.v1alpha1 import Model
from specs.v1alpha1.catalogue import BUILTIN_PROFILES

SPEC_SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = DEFAULT_LIMITS.max_spec_file_bytes


@dataclass
class SpecRepository:
    root: Path
    documents: list[LoadedDocument] = field(default_factory=list)
    issues: list[SpecIssue] = field(default_factory=list)
    notices: list[SpecIssue] = field(default_factory=list)  # located, but the repository stays valid
    files: int = 0

    @property
    def valid(self) -> bool:
        return not self.issues

    def of_kind(self, kind: type) -> dict[str, object]:
        return {d.spec.name: d.spec for d in self.documents if isinstance(d.spec, kind)}

    @property
    def datasets(self) -> dict[str, Dataset]:
        return self.of_kind(Dataset)  # type: ignore[return-value]

    @property
    def models(self) -> dict[str, Model]:
        return self.of_kind(Model)  # type: ignore[return-value]

    @property
    def fleets(self) -> dict[str, Fleet]:
        return self.of_kind(Fleet)  # type: ignore[return-value]

    @property
    def profiles(self) -> dict[str, DeviceProfile]:
        """The built-in catalogue, with the repository's own profiles added or overriding."""
        return {**BUILTIN_PROFILES, **self.of_kind(DeviceProfile)}  # type: ignore[dict-item]

    def source_of(self, ref: str) -> Path:
        """The directory of the file that defines `ref` (for relative data paths)."""
        for doc in self.documents:
            if doc.ref == ref:
                return Path(self.root, doc.raw.file).parent  # an absolute file path wins the join
        raise KeyError(ref)

    def require_valid(self) -> SpecRepository:
        if self.issues:
            raise SpecError(self.issues)
        return self


def _walk_spec_files(root: Path) -> list[tuple[Path, str | None]]:
    """(file, why it is refused or None) for every .yaml/.yml file under root, skipping hidden
    directories (.git, .github); a symlink whose target leaves the repository is refused."""
    if root.is_file():
        return [(root, None)]
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(SPEC_SUFFIXES):
                path, refused = Path(dirpath) / name, None
                if path.is_symlink():
                    try:
                        confine(root, path)
                    except RefusedPath as err:
                        refused = f"this spec file {err}; it is not read"
                found.append((path, refused))
    return found


def spec_files(root: Path) -> list[Path]:
    """Every spec file under root that may be read (none reached through a symlink leaving it)."""
    return [path for path, refused in _walk_spec_files(root) if refused is None]


def _display(path: Path, root: Path) -> str:
    """Paths in messages are relative to the repository root, as GitHub annotations expect."""
    base = root if root.is_dir() else root.parent
    return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)


def load_repository(root: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> SpecRepository:
    """Load and validate every document under `root`, and the files they name; all problems end up
    in `.issues`."""
    root = Path(root)
    if not root.exists():
        raise UsageError(f"{root}: no such file or directory")
    repo = SpecRepository(root=root if root.is_dir() else root.parent)
    texts: list[tuple[str, str | None, str | None]] = []
    for path, refused in _walk_spec_files(root):
        shown = _display(path, root)
        if refused:
            texts.append((shown, None, refused))
            continue
        try:
            size = path.stat().st_size
            if size > limits.max_spec_file_bytes:
                too_big = exceeds(limits, "max_spec_file_bytes", f"the file holds {show_bytes(size)}")
                texts.append((shown, None, too_big))
                continue
            texts.append((shown, path.read_bytes().decode("utf-8"), None))
        except UnicodeDecodeError as err:
            texts.append((shown, None, f"not UTF-8 text: {err.reason}"))
        except OSError as err:
            texts.append((shown, None, f"cannot read: {err.strerror}"))
    return check_on_disk(load_texts(texts, repo, limits), limits)


def load_texts(texts, repo: SpecRepository | None = None, limits: Limits = DEFAULT_LIMITS) -> SpecRepository:
    """Validate in-memory files: (display name, text or None, read error or None) triples.

    The git source feeds blobs straight from a commit through here, without a checkout: every
    check here reads the texts only (the files the specs name are checked by `check_on_disk`).
    """
    repo = repo if repo is not None else SpecRepository(root=Path("."))
    for shown, text, read_error in texts:
        repo.files += 1
        if read_error is not None:
            repo.issues.append(SpecIssue(shown, 1, 1, None, None, read_error))
            continue
        raws, issues = read_yaml(shown, text, limits)
        repo.issues += issues
        for raw in raws:
            doc, doc_issues = parse_document(raw)
            repo.issues += doc_issues
            if doc is not None:
                repo.documents.append(doc)
    repo.issues += check_duplicates(repo.documents)
    repo.issues += check_references(repo.documents)
    repo.issues += check_task_figures(repo.documents)
    repo.issues += check_entry_point_options(repo.documents)
    repo.issues += check_fleet_overlaps(repo.documents)
    repo.issues += check_budgets(repo.documents, limits)
    repo.issues += check_data_paths(repo.documents)
    repo.notices = sorted(repository_code_notices(repo.documents))
    repo.issues.sort(key=lambda i: (i.file, i.line, i.col, i.message))
    return repo


def check_on_disk(repo: SpecRepository, limits: Limits = DEFAULT_LIMITS) -> SpecRepository:
    """Add the problems of the files the specs name under `repo.root` (on disk: a checkout of the
    revision): data files and entry-point modules inside the repository, present, within budget."""
    repo.issues += check_data_files(repo.documents, repo.root, limits)
    repo.issues += check_entry_points(repo.documents, repo.root)
    repo.issues.sort(key=lambda i: (i.file, i.line, i.col, i.message))
    return repo
