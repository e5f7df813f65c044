"""Detection of coordinated abuse networks: projection, signals, clustering, scoring."""
