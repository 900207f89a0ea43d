# The guardstream services from the project's wheel: one image for the moderation worker, the stream
# worker, the analysis loop, the escalation agent, the review app and its feedback relay (EXTRAS=services,
# the default), and, built with EXTRAS=training, the scheduled training job. Each installs only its
# roles' extras (pyproject.toml), pinned by constraints.txt; overrides.txt lets faust-streaming's click
# bound give way to the pinned click (uv's --override: pip has none).
#   docker build -f infra/production/guardstream.Dockerfile -t guardstream .
#   docker build -f infra/production/guardstream.Dockerfile --build-arg EXTRAS=training -t guardstream-training .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /src
COPY constraints.txt overrides.txt ./
RUN pip install --no-cache-dir -c constraints.txt uv
COPY pyproject.toml README.md ./
# guardstream/schemas and guardstream/triton_models link to these: the wheel carries them as package data
COPY schemas ./schemas
COPY triton_models ./triton_models
COPY guardstream ./guardstream
COPY workers ./workers
COPY training ./training
COPY devtools ./devtools
RUN uv build --wheel --out-dir /dist .

FROM ${PYTHON_IMAGE}
ARG EXTRAS=services
COPY --from=wheel /dist /dist
COPY constraints.txt overrides.txt /opt/guardstream/pins/
RUN pip install --no-cache-dir -c /opt/guardstream/pins/constraints.txt uv \
 && wheel="$(ls /dist/guardstream-*.whl)" \
 && uv pip install --system --no-cache -c /opt/guardstream/pins/constraints.txt \
      --override /opt/guardstream/pins/overrides.txt "guardstream[${EXTRAS}] @ file://${wheel}" \
 && pip uninstall --yes uv && rm -rf /dist \
 && useradd --system --uid 10001 --create-home --home-dir /var/lib/guardstream guardstream
USER guardstream
# run-time state of an installed package (guardstream.paths.runtime_dir): /var/lib/guardstream/.run
WORKDIR /var/lib/guardstream
ENTRYPOINT ["guardstream"]
CMD ["worker"]
