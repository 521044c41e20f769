"""Docteur Memo: the patient registry of a memory clinic."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("docmemo")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
