# Control Tower: one image for web, worker and beat (the command differs).
FROM python:3.11-slim-bookworm
# PYTHONPATH: web, worker and beat all import the sources in /app (templates and static sit beside them).
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 STATIC_ROOT=/app/staticfiles PYTHONPATH=/app
WORKDIR /app
COPY pyproject.toml README.md ./
COPY controltower ./controltower
COPY integrations ./integrations
COPY exceptions_queue ./exceptions_queue
COPY orders ./orders
COPY sandbox ./sandbox
COPY templates ./templates
COPY static ./static
COPY manage.py ./
RUN pip install --no-cache-dir . && useradd --system --home /app controltower \
    && DATABASE_URL=postgresql://build@localhost/build REDIS_URL=redis://localhost SECRET_KEY=build-only \
       python manage.py collectstatic --noinput
USER controltower
EXPOSE 8000
CMD ["sh", "-c", "python manage.py migrate --noinput && exec uvicorn controltower.asgi:application --host 0.0.0.0 --port ${PORT:-8000}"]
