"""`python -m bot.cli`: the same as the `leadbot` command."""

from bot.cli import main

main()
