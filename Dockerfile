# syntax=docker/dockerfile:1
# warroom: a static, cgo-built binary (SQLite inside) on a small non-root image.
#   docker build -t warroom .
#   docker run -p 8080:8080 -v warroom-data:/data -e WARROOM_INGEST_TOKEN -e WARROOM_API_TOKEN warroom

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=none
ARG DATE=unknown
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -trimpath \
      -tags 'sqlite_omit_load_extension netgo osusergo' \
      -ldflags "-linkmode external -extldflags '-static' -s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/warroom ./cmd/warroom \
 && mkdir -p /out/data /out/etc/warroom \
 && cp deploy/config.docker.yaml /out/etc/warroom/config.yaml

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/warroom /warroom
COPY --from=build /out/etc/warroom /etc/warroom
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/warroom", "health", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/warroom"]
CMD ["serve", "--config", "/etc/warroom/config.yaml", "--listen", "0.0.0.0:8080", "--db", "/data/warroom.db"]
