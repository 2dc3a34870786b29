#!/bin/sh
# keyledger bootstrap for Kubernetes: run on a workstation with access to the cluster.
# Makes an Ed25519 key pair here, registers the public half as machine k8s-<hostname>
# and prints the `kubectl create secret` command that hands the identity to the cluster.
# The private key never leaves this host except through that command.
set -eu
API_URL=@API_URL@
TOKEN=@TOKEN@
fail() { echo "keyledger k8s bootstrap: $*" >&2; exit 1; }
command -v openssl >/dev/null 2>&1 || fail "openssl is required"
command -v curl >/dev/null 2>&1 || fail "curl is required"
case "$TOKEN" in *[!0-9a-f]*|'') fail "malformed token";; esac
[ "${#TOKEN}" -eq 48 ] || fail "malformed token"
HOST=$( (hostname || uname -n) 2>/dev/null | tr -cd 'A-Za-z0-9.-')
NAME="k8s-${HOST:-host}"
BASE="${KEYLEDGER_HOME:-$HOME/.keyledger}"
umask 077
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
openssl genpkey -algorithm Ed25519 -out "$TMP/private.pem" 2>/dev/null || fail "openssl cannot make Ed25519 keys"
PUB=$(openssl pkey -in "$TMP/private.pem" -pubout -outform DER | tail -c 32 | openssl base64 -A)
BODY=$(printf '{"token":"%s","publicKey":"%s","hostname":"%s","name":"%s"}' "$TOKEN" "$PUB" "$HOST" "$NAME")
RESP=$(curl -sS -X POST -H 'Content-Type: application/json' --data "$BODY" \
  -w '\n%{http_code}' "$API_URL/v1/bootstrap/register") || fail "cannot reach $API_URL"
CODE=$(printf '%s\n' "$RESP" | tail -n 1)
JSON=$(printf '%s\n' "$RESP" | sed '$d')
field() { printf '%s' "$JSON" | sed -n "s/.*\"$1\":\"\([^\"\\]*\(\\\\.[^\"\\]*\)*\)\".*/\1/p"; }
[ "$CODE" = "201" ] || fail "registration refused (HTTP $CODE): $(field error)"
MID=$(field machineId); VAULT=$(field vaultId); MNAME=$(field machineName)
case "$VAULT" in vault_*) ;; *) fail "unexpected answer from the server";; esac
case "$MID" in *[!0-9a-f-]*|'') fail "unexpected answer from the server";; esac
DIR="$BASE/k8s/$VAULT/$MID"
mkdir -p "$DIR"; chmod 700 "$BASE" "$BASE/k8s" "$BASE/k8s/$VAULT" "$DIR"
mv "$TMP/private.pem" "$DIR/private.pem"; chmod 600 "$DIR/private.pem"
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
echo "Registered machine $MID ($MNAME) in $VAULT: approve it and grant its secrets, then run:" >&2
echo "kubectl create secret generic keyledger-identity" \
  "--from-literal=vault-id=$(q "$VAULT")" \
  "--from-literal=machine-id=$(q "$MID")" \
  "--from-literal=api-url=$(q "$API_URL")" \
  "--from-literal=machine-name=$(q "$MNAME")" \
  "--from-file=private-key=$(q "$DIR/private.pem")"
echo "Then delete $DIR/private.pem: the cluster holds the key from then on." >&2
