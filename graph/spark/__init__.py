"""Detection's events on Apache Spark: the same SQL, translated, on a local or remote cluster.

Optional (``pip install -e '.[spark]'``): nothing else in sybilscope imports
this package unless the workspace's engine is ``spark``.
"""
