"""The command line: argv in, one call to the application service per command, text or
JSON out, and an exit code chosen from one table of errors (see `relay.cli.main`)."""
