"""The platform side: records, the job service, the CLI (and, next, the Serve app)."""
