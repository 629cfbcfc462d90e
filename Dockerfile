# Multi-stage build of the prompt-tracker service (rustls: no OpenSSL at run time).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY api ./api
COPY entity ./entity
COPY migration ./migration
COPY vendor ./vendor
COPY src ./src
RUN cargo build --release --locked -p prompt-tracker -p migration

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/prompt-tracker --create-home prompt-tracker
COPY --from=build /src/target/release/prompt-tracker /usr/local/bin/prompt-tracker
COPY --from=build /src/target/release/migration /usr/local/bin/prompt-tracker-migration
USER prompt-tracker
WORKDIR /var/lib/prompt-tracker
ENV PROMPT_TRACKER_BIND=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///var/lib/prompt-tracker/prompt_tracker.db?mode=rwc
EXPOSE 8080
ENTRYPOINT ["prompt-tracker"]
CMD ["serve"]
