"""The config model: config.json → checked → typed records (runc's configs layer)."""
