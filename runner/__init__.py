"""mtls-runner: call mutual-TLS APIs from reviewed YAML job files."""

__version__ = "0.1.0"
