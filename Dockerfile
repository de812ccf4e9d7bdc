# syntax=docker/dockerfile:1
#
# Multi-stage build of the campaign engine's binaries (docker-compose.yml uses each target).
#   docker build --target api    -t campaigns-api .      # campaigns-api + campaignsctl
#   docker build --target worker -t campaigns-worker .   # campaigns-worker
#   docker build --target wa-sim -t campaigns-wa-sim .   # the WhatsApp Cloud API simulator
# Queries are checked at compile time against the committed .sqlx/ data
# (SQLX_OFFLINE=true), so no database is needed to build.

############################ builder
FROM rust:1-bookworm AS builder
WORKDIR /src
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0
COPY . .
# Cache mounts keep the registry and target dir between builds; the binaries are
# copied to /out in the same step because the target cache is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p api -p workers -p cli -p wa-sim \
 && mkdir -p /out \
 && cp target/release/campaigns-api target/release/campaigns-worker target/release/campaignsctl \
       target/release/wa-sim /out/

############################ runtime base
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
ENV LOG_FORMAT=json \
    RUST_LOG=info
USER app
WORKDIR /tmp

############################ wa-sim
FROM runtime AS wa-sim
COPY --from=builder /out/wa-sim /usr/local/bin/wa-sim
COPY deploy/wa-sim/wa-sim.toml /etc/wa-sim/wa-sim.toml
ENV WA_SIM_CONFIG=/etc/wa-sim/wa-sim.toml
EXPOSE 8089
HEALTHCHECK --interval=10s --timeout=5s --retries=6 \
  CMD curl -fsS -o /dev/null http://localhost:8089/_sim/messages/count || exit 1
ENTRYPOINT ["/usr/local/bin/wa-sim"]

############################ worker
FROM runtime AS worker
COPY --from=builder /out/campaigns-worker /usr/local/bin/campaigns-worker
ENV WORKER_ADDR=0.0.0.0:9100
EXPOSE 9100
HEALTHCHECK --interval=10s --timeout=5s --retries=6 \
  CMD curl -fsS -o /dev/null http://localhost:9100/readyz || exit 1
ENTRYPOINT ["/usr/local/bin/campaigns-worker"]

############################ api (last stage = default target)
FROM runtime AS api
COPY --from=builder /out/campaigns-api /out/campaignsctl /usr/local/bin/
ENV API_ADDR=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --retries=6 \
  CMD curl -fsS -o /dev/null http://localhost:8080/readyz || exit 1
ENTRYPOINT ["/usr/local/bin/campaigns-api"]
