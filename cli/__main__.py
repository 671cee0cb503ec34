"""`python -m cli` runs the `fleet` command."""

from cli.main import main

main()
