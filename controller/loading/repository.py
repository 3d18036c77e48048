"""A spec repository: every document under a directory, validated as one set."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from controller.loading.documents import LoadedDocument, parse_document
from controller.loading.issues import SpecIssue
from controller.loading.references import check_duplicates, check_references
from controller.loading.yaml_positions import read_yaml
from specs.errors import SpecError, UsageError
from specs.v1alpha1 import Dataset, DeviceProfile, Fleet, Model
from specs.v1alpha1.catalogue import BUILTIN_PROFILES

SPEC_SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = 4 * 1024 * 1024


@dataclass
class SpecRepository:
    root: Path
    documents: list[LoadedDocument] = field(default_factory=list)
    issues: list[SpecIssue] = field(default_factory=list)
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


def spec_files(root: Path) -> list[Path]:
    """Every .yaml/.yml file under root, skipping hidden directories (.git, .github)."""
    if root.is_file():
        return [root]
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in sorted(filenames) if f.endswith(SPEC_SUFFIXES)]
    return found


def _display(path: Path, root: Path) -> str:
    """Paths in messages are relative to the repository root, as GitHub annotations expect."""
    base = root if root.is_dir() else root.parent
    return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)


def load_repository(root: str | os.PathLike) -> SpecRepository:
    """Load and validate every document under `root`; all problems end up in `.issues`."""
    root = Path(root)
    if not root.exists():
        raise UsageError(f"{root}: no such file or directory")
    repo = SpecRepository(root=root if root.is_dir() else root.parent)
    texts: list[tuple[str, str | None, str | None]] = []
    for path in spec_files(root):
        shown = _display(path, root)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                texts.append((shown, None, f"file is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB"))
                continue
            texts.append((shown, path.read_bytes().decode("utf-8"), None))
        except UnicodeDecodeError as err:
            texts.append((shown, None, f"not UTF-8 text: {err.reason}"))
        except OSError as err:
            texts.append((shown, None, f"cannot read: {err.strerror}"))
    return load_texts(texts, repo)


def load_texts(texts, repo: SpecRepository | None = None) -> SpecRepository:
    """Validate in-memory files: (display name, text or None, read error or None) triples.

    The git source feeds blobs straight from a commit through here, without a checkout.
    """
    repo = repo if repo is not None else SpecRepository(root=Path("."))
    for shown, text, read_error in texts:
        repo.files += 1
        if read_error is not None:
            repo.issues.append(SpecIssue(shown, 1, 1, None, None, read_error))
            continue
        raws, issues = read_yaml(shown, text)
        repo.issues += issues
        for raw in raws:
            doc, doc_issues = parse_document(raw)
            repo.issues += doc_issues
            if doc is not None:
                repo.documents.append(doc)
    repo.issues += check_duplicates(repo.documents)
    repo.issues += check_references(repo.documents)
    repo.issues.sort(key=lambda i: (i.file, i.line, i.col, i.message))
    return repo
