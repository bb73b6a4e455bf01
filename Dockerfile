# syntax=docker/dockerfile:1

# ---------------------------------------------------------------------------
# Build stage
FROM swift:6.2-bookworm AS build

RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build

# Resolve dependencies first so this layer is cached until the manifest changes.
COPY Package.swift ./
RUN swift package resolve

# SwiftPM validates every declared target's directory (tests included), so
# Tests/ is copied too even though only the charter product is built.
COPY Sources ./Sources
COPY Tests ./Tests
COPY Public ./Public
COPY seeds ./seeds

RUN swift build -c release --product charter --static-swift-stdlib

# Stage the binary with its SwiftPM resource bundle (Bundle.module looks next to the executable).
RUN mkdir -p /staging \
    && cp .build/release/charter /staging/charter \
    && cp -R .build/release/Charter_CharterHTTP.resources /staging/Charter_CharterHTTP.resources \
    && cp -R Public /staging/Public \
    && cp -R seeds /staging/seeds

# ---------------------------------------------------------------------------
# Runtime stage
FROM debian:bookworm-slim

RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-0 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --user-group --uid 10001 --home-dir /app --shell /usr/sbin/nologin charter \
    && mkdir -p /app /data \
    && chown charter:charter /data

WORKDIR /app
COPY --from=build --chown=root:root /staging/ /app/

USER charter:charter

VOLUME /data
ENV CHARTER_DATABASE=/data/charter.sqlite
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1

ENTRYPOINT ["/app/charter"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--seed-demo"]
