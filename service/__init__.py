"""Service wiring shared by the HTTP server and the CLI: settings, app keys, logging."""
