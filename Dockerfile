# leadbot: the bot in one image; docker-compose.yml runs it with PostgreSQL.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app

COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY storage ./storage
RUN pip install --no-cache-dir --no-deps .

RUN useradd --create-home --uid 10001 leadbot && mkdir -p /data && chown leadbot /data
USER leadbot
WORKDIR /data

# Listen on all interfaces inside the container; compose maps the ports.
ENV LEADBOT_SMTP_HOST=0.0.0.0 LEADBOT_HTTP_HOST=0.0.0.0 LEADBOT_HOME=/data
EXPOSE 2525 8000
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
CMD ["leadbot", "serve"]
