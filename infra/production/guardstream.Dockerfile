# The guardstream services (worker, CLI, training job) on a slim Python base.
FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY schemas ./schemas
COPY guardstream ./guardstream
COPY workers ./workers
COPY training ./training
RUN pip install --no-cache-dir -c constraints.txt .
ENTRYPOINT ["guardstream"]
CMD ["worker"]
