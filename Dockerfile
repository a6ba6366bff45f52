# One image for the bot and the workers. The PyPI torch wheel carries CUDA, so the same image
# runs on CPU hosts and, with `--gpus all` (or compose's GPU reservation), on GPU workers.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so code edits don't reinstall torch.
COPY pyproject.toml README.rst ./
COPY core/__init__.py core/__init__.py
COPY models/__init__.py models/__init__.py
COPY bot/__init__.py bot/__init__.py
COPY smask/__init__.py smask/__init__.py
RUN pip install '.[redis]' && pip uninstall -y symphonic-masks

COPY core core
COPY models models
COPY bot bot
COPY smask smask
COPY data data
# Editable, so core/ finds the data/ tables and models/ its weights beside the code.
RUN pip install --no-deps -e . \
    && useradd --create-home --uid 10001 smask \
    && mkdir -p /var/lib/smask && chown smask /var/lib/smask

USER smask
ENV SMASK_STATE_DIR=/var/lib/smask
VOLUME ["/var/lib/smask"]

# Healthy while some worker's job threads beat (the embedded worker, or any worker sharing
# Redis) and no queued job has waited longer than SMASK_HEALTH_MAX_QUEUED_S (default here
# 1800 s; 0 turns the wait check off); exits 1 otherwise. The start period covers loading
# torch and the pitch model.
ENV SMASK_HEALTH_MAX_QUEUED_S=1800
HEALTHCHECK --interval=30s --timeout=20s --start-period=120s --retries=3 \
    CMD smask health --max-queued-s "${SMASK_HEALTH_MAX_QUEUED_S:-1800}"

# huey finishes the running task on SIGINT; our job table re-queues anything interrupted.
# `smask bot` gives its embedded worker SMASK_WORKER_STOP_TIMEOUT_S (default 840 s, the
# longest job) to finish: stop the container with at least that, `docker stop -t 900`.
STOPSIGNAL SIGINT
ENTRYPOINT ["smask"]
CMD ["--help"]
