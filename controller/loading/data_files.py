"""The files a Dataset names: inside the repository, present, and within the dataset's byte budget.

`check_data_paths` judges the paths as written (pure: a git commit is checked before checkout);
`check_data_files` looks at the disk (real paths, symlinks followed, sizes from `stat` only, never
the contents). Messages quote the path as the spec wrote it, never a host path.
"""
from __future__ import annotations

from pathlib import Path
from pathlib import PurePosixPath

from controller.limits import Limits
from controller.limits import exceeds
from controller.limits import show_bytes
from controller.loading.confinement import RefusedPath
from controller.loading.confinement import files_under
from controller.loading.confinement import lexical_problem
from controller.loading.confinement import resolve_in_repository
from controller.loading.csv_columns import read_header
from controller.loading.csv_columns import target_problem
from controller.loading.documents import LoadedDocument
from controller.loading.issues import SpecIssue
from specs.v1alpha1 import Dataset
from specs.v1alpha1.dataset import FilesSource

ONE_FILE = ("csv", "npz")  # the other formats read a folder with one sub-folder per class


def spec_folder(doc: LoadedDocument) -> str:
    """The folder of the document's file, relative to the repository root ('' at the root)."""
    folder = str(PurePosixPath(doc.raw.file).parent)
    return "" if folder == "." else folder


def _files_sources(docs: list[LoadedDocument]):
    for doc in docs:
        if isinstance(doc.spec, Dataset):
            for i, source in enumerate(doc.spec.spec.sources):
                if isinstance(source, FilesSource):
                    yield doc, i, source


def check_data_paths(docs: list[LoadedDocument]) -> list[SpecIssue]:
    issues = []
    for doc, i, source in _files_sources(docs):
        problem = lexical_problem(spec_folder(doc), source.path)
        if problem:
            issues.append(doc.issue(("spec", "sources", i, "path"), f"{source.path!r:.200} {problem}"))
    return issues


def _size(root: Path, real: Path, source: FilesSource, limits: Limits) -> int:
    if source.format in ONE_FILE:
        if not real.is_file():
            raise RefusedPath(f"is a folder; format {source.format} reads one file")
        return real.stat().st_size
    if not real.is_dir():
        raise RefusedPath(f"is a file; format {source.format} reads a folder with one sub-folder per class")
    return sum(file.stat().st_size for _, file in files_under(root, real, limits.max_samples))


def _csv_target(real: Path, source: FilesSource, task: str) -> str | None:
    """Why the CSV's `target` names no label column (read from its header row only); None when it does."""
    try:
        header = read_header(real)
    except ValueError as err:
        return str(err)
    except OSError as err:
        return f"cannot be read: {err.strerror}"
    if header is None:
        return "no header row; a CSV source needs one naming its columns"
    return target_problem(header, source.target, task)


def check_data_files(docs: list[LoadedDocument], root: Path, limits: Limits) -> list[SpecIssue]:
    issues = []
    totals: dict[str, int] = {}
    for doc, i, source in _files_sources(docs):
        if lexical_problem(spec_folder(doc), source.path):
            continue  # reported by check_data_paths
        at = ("spec", "sources", i, "path")
        try:
            real = resolve_in_repository(root, root / spec_folder(doc), source.path)
            size = _size(root, real, source, limits)
        except RefusedPath as err:
            issues.append(doc.issue(at, f"{source.path!r:.200} {err}"))
            continue
        except OSError as err:
            issues.append(doc.issue(at, f"{source.path!r:.200} cannot be read: {err.strerror}"))
            continue
        if source.format == "csv":
            problem = _csv_target(real, source, doc.spec.spec.task)
            if problem:
                issues.append(doc.issue(("spec", "sources", i, "target"), f"{source.path!r:.200}: {problem}"))
        before = totals.get(doc.ref, 0)
        totals[doc.ref] = before + size
        if before <= limits.max_dataset_bytes < before + size:
            issues.append(doc.issue(at, exceeds(limits, "max_dataset_bytes",
                                                f"the Dataset's files reach {show_bytes(before + size)} here")))
    return issues
