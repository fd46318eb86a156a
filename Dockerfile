# The chat server: the web UI built in a Node stage, embedded in a static Go
# binary, run as non-root on distroless. Build from the repository root:
#   docker build -t ghcr.io/chatcluster/chatserver:0.1.0 .
FROM docker.io/library/node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci
COPY web/ ./
RUN npm run build

FROM docker.io/library/golang:1.27.3-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=web /src/web/dist ./web/dist
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/chatserver ./cmd/chatserver

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/chatserver /chatserver
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/chatserver"]
