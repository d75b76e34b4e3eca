"""The dispatcher console: a browser UI served by dispatch at /console/, and its session cookie."""
