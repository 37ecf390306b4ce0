# Build: the release binary, from the locked dependency set.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin session-share

# Run: a small image with CA certificates (for AWS S3 over TLS) and curl (for the health check).
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/session-share --create-home session-share
COPY --from=build /src/target/release/session-share /usr/local/bin/session-share
USER session-share
WORKDIR /var/lib/session-share
ENV SESSION_SHARE_BIND=0.0.0.0:8080 \
    SESSION_SHARE_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/api/health || exit 1
ENTRYPOINT ["session-share"]
CMD ["serve"]
