# kstock — the Telegram bot (and every `kstock` command) in a CPU-only image.
#
#   docker build -t kstock .
#   docker volume create kstock-data
#   # data and models live in the volume (KSTOCK_DB=/data/kstock.db, KSTOCK_MODEL_DIR=/data/models):
#   docker run --rm -v kstock-data:/data kstock data synth            # or: data import /import/… (mount it :ro)
#   docker run --rm -v kstock-data:/data kstock train all
#   # the bot; settings and secrets from an env file (see .env.example), never baked into the image:
#   docker run -d --name kstock --init --restart unless-stopped --stop-timeout 120 \
#       --env-file /etc/kstock/kstock.env -v kstock-data:/data kstock
#
# One bot process per token (a second one gets Telegram's 409 Conflict): do not scale this container out.

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# LightGBM needs the OpenMP runtime, which the slim image lacks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# CPU torch first, from PyTorch's CPU index: the `deep` extra's pin (torch==2.13.0) is then already satisfied
# (2.13.0+cpu matches it), so no dependency can pull the multi-GB CUDA build. Its own layer: it rarely changes.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[deep]" \
    && python -c "import torch, kstock.ml.models as m; assert m.torch_available(), 'torch missing'; print('torch', torch.__version__)"

# An unprivileged user owning only the data volume.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/kstock --shell /usr/sbin/nologin kstock \
    && mkdir -p /data \
    && chown kstock:kstock /data

# The store, the model registry and the bot's instance lock (beside the store) all live on the volume.
ENV KSTOCK_DB=/data/kstock.db \
    KSTOCK_MODEL_DIR=/data/models \
    MPLCONFIGDIR=/home/kstock/.cache/matplotlib

USER kstock
# Build matplotlib's font cache (with the bundled Hangul font) now, not on the first /analyze chart.
RUN python -c "from kstock.charts import hangul_font; print('chart font:', hangul_font())"

VOLUME ["/data"]

# Cheap (under a second, no network): the settings are valid and the store on the volume opens and reads.
HEALTHCHECK --interval=5m --timeout=30s --start-period=2m --retries=3 \
    CMD kstock data status > /dev/null || exit 1

# The bot stops gracefully on SIGTERM (python-telegram-bot); give it time to finish a job's step.
STOPSIGNAL SIGTERM
ENTRYPOINT ["kstock"]
CMD ["bot"]
