# syntax=docker/dockerfile:1
# Latchkey in a small image: built with the Rust toolchain, run on Debian
# slim with only libpq (SQLite is compiled in), as an unprivileged user,
# with the SQLite database on the /data volume.
#
#   docker build -t latchkey .
#   docker run -p 127.0.0.1:8080:8080 -v latchkey-data:/data latchkey
#
# The first start prints the first admin's one-time password (docker logs).

FROM rust:1.89-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin latchkey \
 && strip target/release/latchkey

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home latchkey \
 && install -d -o latchkey -g latchkey -m 0700 /data
COPY --from=build /src/target/release/latchkey /usr/local/bin/latchkey
ENV DATABASE_URL=sqlite:///data/latchkey.db \
    LATCHKEY_BIND=0.0.0.0:8080
VOLUME ["/data"]
WORKDIR /data
USER latchkey
EXPOSE 8080
# No curl in the image: bash talks HTTP to /healthz itself.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["latchkey"]
CMD ["serve"]
