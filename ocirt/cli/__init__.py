"""The runc command line: surface (as data), parser, dispatcher."""
