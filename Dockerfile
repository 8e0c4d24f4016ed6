# ShrinkNets service image: the `shrinknets` command (serve, worker, demo, study, paper).
#
#   docker build -t shrinknets:gpu .          # torch from the default index (bundles CUDA)
#   docker build --build-arg TORCH_INDEX_URL=<PyTorch's CPU wheel index> -t shrinknets .
#                                             # CPU-only torch (API, CPU workers; far smaller)
#
# Dependencies are the pinned requirements.lock; torch is installed first (from
# TORCH_INDEX_URL when given) so the lock's `torch==X` is already satisfied by the build
# chosen here.
FROM python:3.11-slim

ARG TORCH_INDEX_URL=""
# extra pip packages, e.g. "boto3==1.44.8" for SHRINKNETS_ARTIFACT_STORE=s3://BUCKET
ARG EXTRA_PACKAGES=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SHRINKNETS_DATA_DIR=/data

WORKDIR /app

COPY requirements.lock ./
RUN pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$(grep -E '^torch==' requirements.lock)" \
 && pip install -r requirements.lock \
 && if [ -n "$EXTRA_PACKAGES" ]; then pip install $EXTRA_PACKAGES; fi

COPY pyproject.toml README.md ./
COPY shrinknets_core ./shrinknets_core
COPY studies ./studies
COPY service ./service
RUN pip install --no-deps --no-build-isolation . \
 && useradd --create-home --uid 10001 shrinknets \
 && mkdir -p /data && chown shrinknets /data

USER shrinknets
VOLUME ["/data"]
EXPOSE 8000

ENTRYPOINT ["shrinknets"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "0"]
