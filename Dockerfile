# The demo API's image: the locked production dependencies, the package, and the migrations.
# The development dependencies (the embedded PostgreSQL, the test and lint tools) stay out:
# `pipenv requirements` lists Pipfile.lock's production packages only. Checked without a
# Docker engine by tests/test_image.py (`pipenv run test-image`).

# pipenv only turns the lock into a requirements file: it, and what it depends on, stay in
# this stage and never reach the image.
FROM python:3.11-slim AS requirements
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
RUN pip install pipenv
COPY Pipfile Pipfile.lock ./
# The two local distributions (the app, and toolkit/) are installed from their folders below:
# pipenv lists them as "-e ." and "-e ./toolkit" in a checkout, without "-e" elsewhere.
RUN pipenv requirements --hash | grep -v -E '^(-e )?\.' > requirements.txt

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, from the lock file (every file checked against its hash), so that a
# code change does not reinstall them.
COPY --from=requirements /build/requirements.txt /tmp/requirements.txt
RUN pip install --require-hashes -r /tmp/requirements.txt && rm /tmp/requirements.txt

# The migration toolkit (toolkit/, a distribution of its own) and the app; the lock file
# already installed what both depend on.
COPY toolkit ./toolkit
COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY src ./src
# alembic.ini names the Pipfile's scripts for the toolkit's commands, which the toolkit's
# messages then name; the image has no pipenv, so its messages name alembic-toolkit's own.
# The section goes up to the next one (or the end), blank lines and comments included.
RUN sed -i '/^\[alembic_toolkit\.commands\]/,/^\[/{/^\[alembic_toolkit\.commands\]/d;/^\[/!d}' alembic.ini
RUN pip install --no-deps ./toolkit . \
    && useradd --system --no-create-home --shell /usr/sbin/nologin app

USER app
EXPOSE 8765
# The same server, limits and timeouts as `pipenv run start` (src/alembic_stuff/api/server.py).
CMD ["alembic-stuff", "serve", "--host", "0.0.0.0", "--port", "8765"]
