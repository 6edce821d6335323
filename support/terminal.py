"""Running a command as a terminal runs it: in a pseudo-terminal, or as its foreground job."""

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def converse(
    command: Sequence[str], cwd: Path, environment: Mapping[str, str], answers: Mapping[str, str]
) -> tuple[int, str]:
    """Run `command` with a terminal for its input and output, answering each prompt it shows.

    Returns its exit status and everything it wrote to the terminal.
    """
    controller, terminal = pty.openpty()
    with subprocess.Popen(
        command, cwd=cwd, env=dict(environment), stdin=terminal, stdout=terminal, stderr=terminal
    ) as process:
        os.close(terminal)
        transcript = b""
        deadline = time.monotonic() + 60
        pending = dict(answers)
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # the terminal closed: the process has exited
                    break
                if not chunk:
                    break
                transcript += chunk
                for prompt, answer in list(pending.items()):
                    if prompt.encode() in transcript:
                        os.write(controller, answer.encode() + b"\n")
                        del pending[prompt]
            elif process.poll() is not None:
                break
        if time.monotonic() >= deadline:
            # Still waiting at a prompt nobody answered: end it, so the caller's assertions
            # fail on the transcript instead of hanging on an endless read.
            process.kill()
        process.wait(timeout=30)
        os.close(controller)
    return process.returncode, transcript.decode(errors="replace")


# A job that a non-interactive shell starts in the background (`pytest ... &` in a script)
# inherits SIGINT ignored, and an ignored signal stays ignored across exec: a Ctrl-C sent to
# it would do nothing. A terminal's foreground job has the default action; this restores it.
_WITH_DEFAULT_SIGINT = (
    "import os, signal, sys; "
    "signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


def as_foreground_job(command: Sequence[str]) -> list[str]:
    """`command`, run with Ctrl-C's default action, as a terminal's foreground job has it."""
    return [sys.executable, "-c", _WITH_DEFAULT_SIGINT, *command]
