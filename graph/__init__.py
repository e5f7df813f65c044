"""sybilscope's graph layer: the store, the schema and the detection.

``graph`` imports neither ``ingest`` nor ``app``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sybilscope")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
