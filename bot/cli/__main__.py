"""`python -m bot.cli …`: the same `leadbot` command, for tests and checkouts without the script."""

from bot.cli import main

main()
