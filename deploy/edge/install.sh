#!/usr/bin/env bash
# Install or upgrade store-edge on a Debian edge box (run as root). Idempotent: run it again with a
# newer release to upgrade; the configuration and the data in /var/lib/store-edge are kept.
#
#   install.sh [options] [SOURCE]
#
# SOURCE  a built tree (a checkout after `npm ci && npm run build`: has dist/cli.mjs), or a release
#         tarball (.tar.gz/.tgz) of such a tree; without node_modules, `npm ci --omit=dev` runs in
#         it. Default: the tree this script lies in.
#
# Options
#   --dry-run      print every action, change nothing
#   --root DIR     install below DIR instead of / (a staging image, the tests); actions on the
#                  running system (useradd, chown, systemctl, the models build) are only printed
#   --no-models    do not build the on-device models now (the store-edge-models unit still will)
#   --no-enable    install the units but do not enable them
#   -h, --help
#
# Writes no secret: the edge creates its own privacy salt and device credentials in its data
# directory on first start; uplink passwords and TLS keys are put on the box by the operator.
set -euo pipefail

DRY_RUN=0
ROOT=/
BUILD_MODELS=1
ENABLE=1
SOURCE=''

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --root) ROOT="${2:?--root needs a directory}"; shift ;;
    --root=*) ROOT="${1#--root=}" ;;
    --no-models) BUILD_MODELS=0 ;;
    --no-enable) ENABLE=0 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) [ -z "$SOURCE" ] || { echo "install.sh: one SOURCE only" >&2; exit 2; }; SOURCE="$1" ;;
  esac
  shift
done

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ -n "$SOURCE" ] || SOURCE="$(cd "$SCRIPT_DIR/../.." && pwd)"
ROOT="${ROOT%/}"
LIVE=1 # acting on this machine's system (users, systemd)?
[ -z "$ROOT" ] || LIVE=0

USER_NAME=store-edge
APP_DIR=/opt/store-edge
CONF_DIR=/etc/store-edge
DATA_DIR=/var/lib/store-edge
UNIT_DIR=/etc/systemd/system
BIN_LINK=/usr/local/bin/store-edge
NODE=/usr/bin/node
UNITS=(store-edge-models.service store-edge.service)

say() { printf '==> %s\n' "$*"; }
# A change to files below ROOT.
run() {
  if [ "$DRY_RUN" = 1 ]; then printf 'would run:'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}
# A change to the running system (users, ownership, systemd): only with ROOT=/ and not dry.
sys() {
  if [ "$DRY_RUN" = 1 ] || [ "$LIVE" = 0 ]; then printf 'would run:'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}

if [ "$LIVE" = 1 ] && [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (or use --dry-run, or --root DIR for a staging image)" >&2
  exit 1
fi

# --- node -----------------------------------------------------------------------------------------
if [ -x "$NODE" ]; then
  NODE_VERSION="$("$NODE" -p 'process.versions.node' 2>/dev/null || echo 0)"
  if ! "$NODE" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null; then
    echo "install.sh: $NODE is $NODE_VERSION; store-edge needs Node >= 20.19 (NodeSource or Debian backports)" >&2
    [ "$DRY_RUN" = 1 ] || [ "$LIVE" = 0 ] || exit 1
  fi
else
  echo "install.sh: $NODE not found; install Node >= 20.19 first (apt install nodejs from NodeSource)" >&2
  [ "$DRY_RUN" = 1 ] || [ "$LIVE" = 0 ] || exit 1
fi

# --- the release tree -----------------------------------------------------------------------------
STAGE=''
cleanup() { [ -z "$STAGE" ] || rm -rf "$STAGE"; }
trap cleanup EXIT

if [ -f "$SOURCE" ]; then
  say "unpacking release $SOURCE"
  STAGE="$(mktemp -d)"
  tar -C "$STAGE" -xzf "$SOURCE"
  # A tarball with one top-level directory (package/, store-edge-x.y.z/): use it.
  shopt -s nullglob dotglob
  entries=("$STAGE"/*)
  shopt -u nullglob dotglob
  if [ "${#entries[@]}" = 1 ] && [ -d "${entries[0]}" ]; then TREE="${entries[0]}"; else TREE="$STAGE"; fi
elif [ -d "$SOURCE" ]; then
  TREE="$(cd "$SOURCE" && pwd)"
else
  echo "install.sh: source $SOURCE is neither a directory nor a tarball" >&2
  exit 1
fi
[ -f "$TREE/package.json" ] || { echo "install.sh: $TREE has no package.json" >&2; exit 1; }
[ -f "$TREE/dist/cli.mjs" ] || { echo "install.sh: $TREE/dist/cli.mjs missing: run 'npm ci && npm run build' first" >&2; exit 1; }

NEED_NPM_CI=0
[ -d "$TREE/node_modules" ] || NEED_NPM_CI=1

# --- user and group -------------------------------------------------------------------------------
if getent group "$USER_NAME" >/dev/null 2>&1 && [ "$LIVE" = 1 ]; then
  say "group $USER_NAME exists"
else
  say "group $USER_NAME"
  sys groupadd --system "$USER_NAME"
fi
if getent passwd "$USER_NAME" >/dev/null 2>&1 && [ "$LIVE" = 1 ]; then
  say "user $USER_NAME exists"
else
  say "user $USER_NAME"
  sys useradd --system --gid "$USER_NAME" --home-dir "$DATA_DIR" --no-create-home --shell /usr/sbin/nologin \
    --comment 'store-edge edge node' "$USER_NAME"
fi

# The box's own Bluetooth radio (radio.enabled): BlueZ's D-Bus policy lets the bluetooth group (Debian)
# or, through store-edge-bluetooth.conf below, this user talk to org.bluez.
if getent group bluetooth >/dev/null 2>&1; then
  say "user $USER_NAME in group bluetooth (the box's own radio)"
  sys usermod -aG bluetooth "$USER_NAME"
fi

# --- /opt/store-edge (replaced as a whole: new next to old, then swapped) ---------------------------
say "application $ROOT$APP_DIR from $TREE"
run mkdir -p "$ROOT$(dirname "$APP_DIR")"
run rm -rf "$ROOT$APP_DIR.new" "$ROOT$APP_DIR.old"
run mkdir -p "$ROOT$APP_DIR.new"
# Everything but VCS data, local data and models built elsewhere (they are rebuilt on the box).
if [ "$DRY_RUN" = 1 ]; then
  printf 'would run: %s\n' "tar -C $TREE --exclude=./.git --exclude=./var --exclude=./models/build -cf - . | tar -C $ROOT$APP_DIR.new -xf -"
else
  tar -C "$TREE" --exclude=./.git --exclude=./var --exclude=./models/build --exclude=./test-results -cf - . | tar -C "$ROOT$APP_DIR.new" --no-same-owner -xf -
fi
if [ "$NEED_NPM_CI" = 1 ]; then
  say "dependencies: npm ci --omit=dev"
  if [ "$DRY_RUN" = 1 ]; then
    printf 'would run: %s\n' "(cd $ROOT$APP_DIR.new && ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --no-audit --no-fund)"
  else
    (cd "$ROOT$APP_DIR.new" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --no-audit --no-fund)
  fi
fi
run chmod -R u=rwX,go=rX "$ROOT$APP_DIR.new"
sys chown -R root:root "$APP_DIR.new"
if [ -e "$ROOT$APP_DIR" ]; then run mv "$ROOT$APP_DIR" "$ROOT$APP_DIR.old"; fi
run mv "$ROOT$APP_DIR.new" "$ROOT$APP_DIR"
run rm -rf "$ROOT$APP_DIR.old"

# --- configuration (kept when present) -------------------------------------------------------------
say "configuration $ROOT$CONF_DIR"
run mkdir -p "$ROOT$CONF_DIR"
run chmod 0750 "$ROOT$CONF_DIR"
sys chown "root:$USER_NAME" "$CONF_DIR"
if [ -f "$ROOT$CONF_DIR/store.yaml" ]; then
  say "$CONF_DIR/store.yaml exists: kept"
else
  say "$CONF_DIR/store.yaml from the example"
  if [ "$DRY_RUN" = 1 ]; then
    printf 'would run: %s\n' "sed 's#^dataDir: .*#dataDir: $DATA_DIR#' $APP_DIR/deploy/edge/store.example.yaml > $ROOT$CONF_DIR/store.yaml"
  else
    sed "s#^dataDir: .*#dataDir: $DATA_DIR#" "$ROOT$APP_DIR/deploy/edge/store.example.yaml" >"$ROOT$CONF_DIR/store.yaml"
  fi
  run chmod 0640 "$ROOT$CONF_DIR/store.yaml"
  sys chown "root:$USER_NAME" "$CONF_DIR/store.yaml"
fi

# --- data directory (systemd's StateDirectory= creates it too; here for the models build) ----------
say "data $ROOT$DATA_DIR"
run mkdir -p "$ROOT$DATA_DIR"
run chmod 0750 "$ROOT$DATA_DIR"
sys chown "$USER_NAME:$USER_NAME" "$DATA_DIR"

# --- units and the CLI wrapper ---------------------------------------------------------------------
say "systemd units in $ROOT$UNIT_DIR"
run mkdir -p "$ROOT$UNIT_DIR"
for u in "${UNITS[@]}"; do
  run install -m 0644 "$ROOT$APP_DIR/deploy/edge/$u" "$ROOT$UNIT_DIR/$u"
done

if [ -f "$TREE/deploy/edge/store-edge-bluetooth.conf" ]; then
  say "D-Bus policy $ROOT/etc/dbus-1/system.d/store-edge-bluetooth.conf (the radio may talk to BlueZ)"
  run mkdir -p "$ROOT/etc/dbus-1/system.d"
  run install -m 0644 "$ROOT$APP_DIR/deploy/edge/store-edge-bluetooth.conf" "$ROOT/etc/dbus-1/system.d/store-edge-bluetooth.conf"
fi

say "command $ROOT$BIN_LINK (runs as $USER_NAME with $CONF_DIR/store.yaml)"
run mkdir -p "$ROOT$(dirname "$BIN_LINK")"
if [ "$DRY_RUN" = 1 ]; then
  printf 'would run: %s\n' "write $ROOT$BIN_LINK"
else
  cat >"$ROOT$BIN_LINK" <<EOF
#!/bin/sh
# store-edge on this box: the same user, configuration and directories as the service.
export STORE_EDGE_CONFIG=$CONF_DIR/store.yaml STORE_EDGE_DATA_DIR=$DATA_DIR STORE_EDGE_MODELS_DIR=$DATA_DIR/models
export MALLOC_ARENA_MAX=2 NODE_ENV=production ONNXRUNTIME_NODE_INSTALL=skip
cd $DATA_DIR 2>/dev/null || cd /
if [ "\$(id -u)" = 0 ]; then
  exec runuser -u $USER_NAME -- $NODE $APP_DIR/dist/cli.mjs "\$@"
fi
exec $NODE $APP_DIR/dist/cli.mjs "\$@"
EOF
  chmod 0755 "$ROOT$BIN_LINK"
fi

sys systemctl daemon-reload
if [ "$ENABLE" = 1 ]; then
  sys systemctl enable "${UNITS[@]}"
fi

# --- models ---------------------------------------------------------------------------------------
if [ "$BUILD_MODELS" = 1 ]; then
  say "on-device models (store-edge models build, in the store-edge-models unit's sandbox)"
  sys systemctl restart store-edge-models.service
fi

# An upgrade of a running edge: restart it on the new code.
if [ "$LIVE" = 1 ] && [ "$DRY_RUN" = 0 ] && systemctl is-active --quiet store-edge.service; then
  say "store-edge was running: restarting on the new release"
  systemctl restart store-edge.service
  STARTED=1
else
  STARTED=0
fi

cat <<EOF

store-edge is installed in $APP_DIR.
Fill in $CONF_DIR/store.yaml (root:$USER_NAME, 0640) before starting:
  store.id, store.name, store.timezone   this store's id (the {storeId} of uplink topics)
  zones:, sensors:                       the store layout
  uplink.url                             mqtts://<central-broker>:8883
  uplink.username, uplink.clientId       this store's account at the central broker
  uplink.caFile                          CA of the central broker, e.g. $CONF_DIR/tls/ca.pem
  uplink.certFile, uplink.keyFile        client certificate and key for mutual TLS
                                         (key: 0640 root:$USER_NAME)
Secrets go in $CONF_DIR/store-edge.env (0640 root:$USER_NAME), e.g.
  STORE_EDGE_UPLINK_PASSWORD=...         STORE_EDGE_HTTP_CAMERA_TOKEN=...
Check it:  store-edge config
EOF
if [ "$STARTED" = 0 ]; then
  echo "Then:      systemctl start store-edge && journalctl -u store-edge -f"
fi
