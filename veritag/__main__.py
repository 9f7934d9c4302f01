"""`python -m veritag` runs the CLI."""

from veritag.cli import main

main()
