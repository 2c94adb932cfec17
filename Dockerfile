FROM python:3.11-slim
WORKDIR /app
# CPU wheels by default; build with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124
# (or drop the index) for CUDA workers.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir torch==2.13.0 --index-url ${TORCH_INDEX}
COPY pyproject.toml README.md ./
COPY service ./service
COPY search_spaces ./search_spaces
RUN pip install --no-cache-dir -e .
ENV RNNTUNE_SEARCH_SPACES_DIR=/app/search_spaces
EXPOSE 8000
CMD ["rnntune", "serve", "--host", "0.0.0.0", "--workers", "0"]
