# The demo API's image: the locked production dependencies, the package, and the migrations.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, from the lock file, so that a code change does not reinstall them.
COPY Pipfile Pipfile.lock ./
RUN pip install pipenv \
    && pipenv requirements | grep -v '^-e ' > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && pip uninstall --yes pipenv \
    && rm /tmp/requirements.txt

COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY src ./src
RUN pip install --no-deps . \
    && useradd --system --no-create-home --shell /usr/sbin/nologin app

USER app
EXPOSE 8765
# The same server, limits and timeouts as `pipenv run start` (src/alembic_stuff/api/server.py).
CMD ["alembic-stuff", "serve", "--host", "0.0.0.0", "--port", "8765"]
