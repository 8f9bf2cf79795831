# One image for the bot and the worker.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends gcc libgomp1 && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
ENV UV_PROJECT_ENVIRONMENT=/app/.venv UV_PYTHON_DOWNLOADS=never PATH="/app/.venv/bin:$PATH"
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
RUN uv sync --frozen --no-dev && python -c "from core.i18n import compile_catalogues; compile_catalogues()"
ENV FRONTLINE_DATA_DIR=/data
VOLUME ["/data"]
ENTRYPOINT ["frontline"]
CMD ["run"]
