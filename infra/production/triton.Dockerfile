# NVIDIA's Triton (NGC 24.10: server 2.51, the release `guardstream dev up` runs from nvidia-pytriton 0.7.0)
# serving the guard models on the GPU, with the project's Python backend on Python 3.11.
#
# The NGC image's Python backend stub is built for its own Python (3.10); guardstream requires 3.11
# (pyproject.toml). As Triton documents for another Python version, the stub
# (triton_python_backend_stub) is built from python_backend at the server's release branch (r24.10)
# against Python 3.11 and replaces the image's; the models then run in that interpreter, which holds
# guardstream[triton-backend] from the project's wheel. The model repository (/models) is rendered from
# the packaged sources by `guardstream model render-repository`: KIND_GPU and device cuda by default
# (GUARDSTREAM_SERVING__* build args below). Weights are not in the image: /models is a volume that the
# training job publishes versions to (docker-compose.yml), seeded with the rendered configs and owned by
# the services' user (uid 10001, infra/production/guardstream.Dockerfile) so that the job can write it.
ARG TRITON_RELEASE=24.10
ARG PYTHON_VERSION=3.11.10

# The wheel, as infra/production/guardstream.Dockerfile builds it
FROM python:3.11-slim-bookworm AS wheel
WORKDIR /src
COPY constraints.txt overrides.txt ./
RUN pip install --no-cache-dir -c constraints.txt uv
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY triton_models ./triton_models
COPY guardstream ./guardstream
COPY workers ./workers
COPY training ./training
COPY devtools ./devtools
RUN uv build --wheel --out-dir /dist .

# Python 3.11 (with its headers and shared libpython) and the stub built against it. The -py3-min image
# is the one Triton's own build uses: the CUDA toolkit the stub's GPU tensor support compiles against.
FROM nvcr.io/nvidia/tritonserver:${TRITON_RELEASE}-py3-min AS stub
ARG TRITON_RELEASE
ARG PYTHON_VERSION
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake git ca-certificates python3-pip rapidjson-dev libarchive-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
COPY constraints.txt /tmp/constraints.txt
# uv's managed CPython (python-build-standalone): a relocatable 3.11 with a shared libpython, at /opt/python/3.11
ENV UV_PYTHON_INSTALL_DIR=/opt/python
RUN pip3 install --no-cache-dir -c /tmp/constraints.txt uv \
 && uv python install "${PYTHON_VERSION}" \
 && ln -s "$(dirname "$(dirname "$(uv python find --managed-python --no-project "${PYTHON_VERSION}")")")" /opt/python/3.11 \
 && /opt/python/3.11/bin/python3.11 -c "import sys; assert sys.version_info[:2] == (3, 11), sys.version"
RUN git clone --depth 1 --branch "r${TRITON_RELEASE}" https://github.com/triton-inference-server/python_backend /build/python_backend \
 && cmake -S /build/python_backend -B /build/python_backend/build \
      -DTRITON_ENABLE_GPU=ON \
      -DTRITON_BACKEND_REPO_TAG="r${TRITON_RELEASE}" \
      -DTRITON_COMMON_REPO_TAG="r${TRITON_RELEASE}" \
      -DTRITON_CORE_REPO_TAG="r${TRITON_RELEASE}" \
      -DPYTHON_EXECUTABLE=/opt/python/3.11/bin/python3.11 \
      -DPython3_EXECUTABLE=/opt/python/3.11/bin/python3.11 \
      -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build/python_backend/build --target triton-python-backend-stub -j"$(nproc)" \
 && ldd /build/python_backend/build/triton_python_backend_stub | grep -q 'libpython3\.11'

FROM nvcr.io/nvidia/tritonserver:${TRITON_RELEASE}-py3
ARG GUARDSTREAM_SERVING__DEVICE=cuda
ARG GUARDSTREAM_SERVING__GPUS=[0]
COPY --from=stub /opt/python /opt/python
COPY --from=stub /build/python_backend/build/triton_python_backend_stub /opt/tritonserver/backends/python/triton_python_backend_stub
# The stub embeds /opt/python/3.11: its libpython, its standard library and its site-packages (the
# image's own Python 3.10 is not used by the server; PYTHONHOME would mislead it)
ENV PYTHONHOME=/opt/python/3.11 \
    LD_LIBRARY_PATH=/opt/python/3.11/lib:${LD_LIBRARY_PATH}
COPY --from=wheel /dist /dist
COPY constraints.txt overrides.txt /opt/guardstream/pins/
RUN /opt/python/3.11/bin/python3.11 -m pip install --no-cache-dir --break-system-packages -c /opt/guardstream/pins/constraints.txt uv \
 && /opt/python/3.11/bin/python3.11 -m uv pip install --python /opt/python/3.11/bin/python3.11 --system \
      --break-system-packages --no-cache -c /opt/guardstream/pins/constraints.txt \
      --override /opt/guardstream/pins/overrides.txt "guardstream[triton-backend] @ file://$(ls /dist/guardstream-*.whl)" \
 && rm -rf /dist \
 && GUARDSTREAM_SERVING__DEVICE="${GUARDSTREAM_SERVING__DEVICE}" GUARDSTREAM_SERVING__GPUS="${GUARDSTREAM_SERVING__GPUS}" \
      /opt/python/3.11/bin/guardstream model render-repository --out /models \
 && chown -R 10001:10001 /models
# The backend's imports resolve in the stub's interpreter, not the image's Python 3.10
RUN /opt/python/3.11/bin/python3.11 -c "import guardstream.guard.triton_backend, guardstream.guard.stream_backend, torch, transformers"
CMD ["tritonserver", "--model-repository=/models", "--model-control-mode=explicit", "--load-model=*"]
