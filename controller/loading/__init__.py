"""Loading a spec repository: YAML with positions, per-document validation, cross references.

Data flow: files are *read* (`yaml_positions`), documents *parsed* into spec models
(`documents`), the set *checked* for duplicates and references (`references`), and the
result gathered in a `SpecRepository` (`repository`).
"""
from controller.loading.issues import SpecIssue
from controller.loading.repository import SpecRepository
from controller.loading.repository import load_repository
from controller.loading.repository import load_texts

__all__ = ["SpecIssue", "SpecRepository", "load_repository", "load_texts"]
