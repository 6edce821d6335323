"""Set up a development environment: dependencies, git hooks and .env. Safe to run again.

Run as `pipenv run setup`, which creates the virtual environment first if there is none.
"""

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def step(message: str) -> None:
    """Announce a step, so a slow one is not mistaken for a hang."""
    print(f"setup: {message}", flush=True)


def run(*command: str) -> None:
    """Run a command in the project folder; stop setup with its exit code if it fails."""
    result = subprocess.run(command, cwd=ROOT, check=False)
    if result.returncode != 0:
        sys.exit(f"setup: `{' '.join(command)}` failed (exit {result.returncode})")


def main() -> None:
    """Install the locked dependencies, the git hooks and a .env."""
    step(
        "installing the locked dependencies (Pipfile.lock): pipenv says 'Installing dependencies' "
        "twice, once for the production packages and once for the development ones"
    )
    # --no-compile: pip compiles every module of every package to bytecode one file at a time,
    # a third of the install's time; compileall below does it on every core.
    run("pipenv", "sync", "--dev", "--extra-pip-args=--no-compile")
    # Without bytecode on disk, every process (the tests start hundreds: alembic, the CLI,
    # uvicorn) compiles SQLAlchemy, Alembic and FastAPI again on import, and where
    # PYTHONDONTWRITEBYTECODE is set (as in many containers) Python never caches it.
    if sys.prefix == sys.base_prefix:
        step("not run by the environment's Python (`pipenv run setup`): packages not compiled")
    else:
        step("compiling the installed packages to bytecode")
        folders = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
        run(sys.executable, "-m", "compileall", "-q", "-j", "0", *folders)

    if (ROOT / ".git").exists():
        step("installing the pre-commit and pre-push git hooks")
        run(
            "pipenv",
            "run",
            "pre-commit",
            "install",
            "--hook-type",
            "pre-commit",
            "--hook-type",
            "pre-push",
        )
    else:
        step("not a git checkout: skipping the git hooks")

    env, example = ROOT / ".env", ROOT / ".env.example"
    if env.exists():
        step(".env exists: left as it is")
    else:
        shutil.copyfile(example, env)
        step("created .env from .env.example")

    step("done. Next: `pipenv run start` serves the API; `pipenv run test` runs the tests")


if __name__ == "__main__":
    main()
