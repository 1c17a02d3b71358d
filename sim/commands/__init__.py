"""The `etcdsim` command and `make bench`. Each subcommand's module is loaded only when it runs."""
