"""The HTTP application: assembly, error mapping, logging, and the service's own pages."""
