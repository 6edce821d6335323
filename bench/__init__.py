"""The benchmark harness: `pipenv run bench` (see bench/run.py)."""
