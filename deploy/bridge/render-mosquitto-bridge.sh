#!/bin/sh
# Render mosquitto-bridge.conf for one store.
#   render-mosquitto-bridge.sh STORE_ID CENTRAL_HOST:PORT CA_FILE PASSWORD_FILE [OUT]
# PASSWORD_FILE holds the store's password at the central broker (first line), created at install
# time (root, mode 0600). OUT defaults to /etc/mosquitto/conf.d/store-edge-bridge.conf and is
# written mode 0600 (it then contains the password).
set -eu
[ $# -ge 4 ] || { echo "usage: $0 STORE_ID CENTRAL_HOST:PORT CA_FILE PASSWORD_FILE [OUT]" >&2; exit 2; }
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
out=${5:-/etc/mosquitto/conf.d/store-edge-bridge.conf}
case "$1" in *[!A-Za-z0-9_-]*|'') echo "store id must be [A-Za-z0-9_-]+" >&2; exit 2 ;; esac
[ -r "$3" ] || { echo "cannot read CA file $3" >&2; exit 2; }
password=$(head -n 1 "$4")
[ -n "$password" ] || { echo "empty password in $4" >&2; exit 2; }
umask 077
# awk with ENVIRON: no escaping problems whatever characters the password contains.
STORE_ID=$1 CENTRAL_ADDRESS=$2 CA_FILE=$3 CENTRAL_PASSWORD=$password awk '
  { gsub(/@STORE_ID@/, ENVIRON["STORE_ID"]); gsub(/@CENTRAL_ADDRESS@/, ENVIRON["CENTRAL_ADDRESS"]); gsub(/@CA_FILE@/, ENVIRON["CA_FILE"])
    if ($1 == "remote_password") { print "remote_password " ENVIRON["CENTRAL_PASSWORD"]; next }
    print }' "$here/mosquitto-bridge.conf" > "$out.tmp"
chmod 600 "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out"
