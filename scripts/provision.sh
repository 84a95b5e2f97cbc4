#!/usr/bin/env bash
# Installs the system pieces the test suite needs when they are missing:
# PostgreSQL 15 server binaries, pgvector 0.8.0 (built from Debian trixie's source
# package, because Debian 12 does not package it) and nats-server.
# Idempotent: a machine that already has everything is left untouched.
set -euo pipefail

PG_MAJOR="${VECTORSYNC_PG_MAJOR:-15}"
PG_BINDIR="${VECTORSYNC_PG_BINDIR:-/usr/lib/postgresql/$PG_MAJOR/bin}"
PGVECTOR_VERSION="0.8.0"
APT_PRIVATE="${VECTORSYNC_APT_DIR:-/var/cache/vectorsync-apt}"

log() { printf '[provision] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@";
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@";
  else log "need root (or passwordless sudo) to run: $*"; exit 1; fi
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    apt_updated=1
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# 1. PostgreSQL server binaries.
if [ ! -x "$PG_BINDIR/postgres" ]; then
  apt_install "postgresql-$PG_MAJOR"
fi
PG_CONFIG="$PG_BINDIR/pg_config"
[ -x "$PG_CONFIG" ] || PG_CONFIG="$(command -v pg_config || true)"

# 2. pgvector.
have_pgvector() {
  local sharedir
  sharedir="$("$PG_BINDIR/postgres" -C sharedir 2>/dev/null || true)"
  [ -n "$sharedir" ] || sharedir="/usr/share/postgresql/$PG_MAJOR"
  [ -f "$sharedir/extension/vector.control" ] &&
    grep -q "default_version = '$PGVECTOR_VERSION'" "$sharedir/extension/vector.control"
}
if ! have_pgvector; then
  server_version="$(dpkg-query -W -f='${Version}' "postgresql-$PG_MAJOR" 2>/dev/null || true)"
  if [ -n "$server_version" ]; then
    apt_install "postgresql-server-dev-$PG_MAJOR=$server_version" make gcc dpkg-dev
  else
    apt_install "postgresql-server-dev-$PG_MAJOR" make gcc dpkg-dev
  fi
  as_root mkdir -p "$APT_PRIVATE/lists/partial" "$APT_PRIVATE/parts" "$APT_PRIVATE/src" "$APT_PRIVATE/cache"
  # A private source list keeps trixie out of the system's package sources.
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" |
    as_root tee "$APT_PRIVATE/sources.list" >/dev/null
  apt_private=(-o "Dir::Etc::SourceList=$APT_PRIVATE/sources.list" -o "Dir::Etc::SourceParts=$APT_PRIVATE/parts"
    -o "Dir::State::Lists=$APT_PRIVATE/lists" -o "Dir::Cache=$APT_PRIVATE/cache")
  log "fetching pgvector $PGVECTOR_VERSION source from Debian trixie"
  as_root apt-get "${apt_private[@]}" update -qq >&2
  src_dir="$APT_PRIVATE/src"
  (cd "$src_dir" && as_root rm -rf pgvector-* pgvector_* &&
    as_root apt-get "${apt_private[@]}" source -qq pgvector >&2)
  build_dir="$(find "$src_dir" -maxdepth 1 -type d -name "pgvector-$PGVECTOR_VERSION*" | head -n1)"
  [ -n "$build_dir" ] || { log "apt-get source pgvector did not yield version $PGVECTOR_VERSION: $(ls "$src_dir")"; exit 1; }
  log "building pgvector in $build_dir"
  (cd "$build_dir" && as_root make -s PG_CONFIG="$PG_CONFIG" >&2 && as_root make -s install PG_CONFIG="$PG_CONFIG" >&2)
  have_pgvector || { log "pgvector install did not produce vector.control $PGVECTOR_VERSION"; exit 1; }
  log "pgvector $PGVECTOR_VERSION installed"
fi

# 3. NATS server with JetStream.
if ! command -v nats-server >/dev/null 2>&1; then
  apt_install nats-server
fi

log "ok: postgres $("$PG_BINDIR/postgres" --version | awk '{print $3}'), pgvector $PGVECTOR_VERSION, $(nats-server --version 2>&1 | head -n1)"
