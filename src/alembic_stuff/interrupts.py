"""What a command ended by Ctrl-C exits with: imported by the entry point, so nothing heavy."""

# What a shell reports for a program ended by Ctrl-C (128 + SIGINT).
INTERRUPTED = 130
