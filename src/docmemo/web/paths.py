"""Paths that the deployment files name (Dockerfile, compose, Kubernetes probes).

Kept apart from the routers so that `docmemo healthcheck` reads them without
importing the web framework.
"""

LIVENESS_PATH = "/health/live"
READINESS_PATH = "/health/ready"
