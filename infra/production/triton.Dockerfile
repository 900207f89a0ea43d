# NVIDIA's Triton image with the guard model's Python dependencies and guardstream.guard installed,
# so that triton_models/guard/<N>/model.py can import it.
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:24.10-py3
FROM ${TRITON_IMAGE}
WORKDIR /opt/guardstream
COPY pyproject.toml constraints.txt README.md ./
COPY schemas ./schemas
COPY guardstream ./guardstream
COPY workers ./workers
COPY training ./training
RUN pip install --no-cache-dir -c constraints.txt .
