#!/bin/sh
# keyledger bootstrap: makes an Ed25519 key pair on this host and registers the public
# half. The private key never leaves this machine. Needs only POSIX sh, openssl, curl.
set -eu
API_URL=@API_URL@
TOKEN=@TOKEN@
NAME=$(printf '%s' "${KEYLEDGER_MACHINE_NAME:-}" | tr -cd 'A-Za-z0-9._ -')
fail() { echo "keyledger bootstrap: $*" >&2; exit 1; }
command -v openssl >/dev/null 2>&1 || fail "openssl is required"
command -v curl >/dev/null 2>&1 || fail "curl is required"
case "$TOKEN" in *[!0-9a-f]*|'') fail "malformed token";; esac
[ "${#TOKEN}" -eq 48 ] || fail "malformed token"
BASE="${KEYLEDGER_HOME:-$HOME/.keyledger}"
umask 077
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
openssl genpkey -algorithm Ed25519 -out "$TMP/private.pem" 2>/dev/null || fail "openssl cannot make Ed25519 keys"
PUB=$(openssl pkey -in "$TMP/private.pem" -pubout -outform DER | tail -c 32 | openssl base64 -A)
HOST=$( (hostname || uname -n) 2>/dev/null | tr -cd 'A-Za-z0-9.-')
BODY=$(printf '{"token":"%s","publicKey":"%s","hostname":"%s","name":"%s"}' "$TOKEN" "$PUB" "$HOST" "$NAME")
RESP=$(curl -sS -X POST -H 'Content-Type: application/json' --data "$BODY" \
  -w '\n%{http_code}' "$API_URL/v1/bootstrap/register") || fail "cannot reach $API_URL"
CODE=$(printf '%s\n' "$RESP" | tail -n 1)
JSON=$(printf '%s\n' "$RESP" | sed '$d')
# A JSON string field, still JSON-escaped: it goes into identity.json as it came.
field() { printf '%s' "$JSON" | sed -n "s/.*\"$1\":\"\([^\"\\]*\(\\\\.[^\"\\]*\)*\)\".*/\1/p"; }
[ "$CODE" = "201" ] || fail "registration refused (HTTP $CODE): $(field error)"
MID=$(field machineId); VAULT=$(field vaultId); MNAME=$(field machineName)
case "$VAULT" in vault_*) ;; *) fail "unexpected answer from the server";; esac
DIR="$BASE/vaults/$VAULT"
mkdir -p "$DIR"; chmod 700 "$BASE" "$BASE/vaults" "$DIR"
mv "$TMP/private.pem" "$DIR/private.pem"; chmod 600 "$DIR/private.pem"
printf '{\n  "machineId": "%s",\n  "machineName": "%s",\n  "vaultId": "%s",\n  "apiUrl": "%s",\n  "privateKeyPath": "%s"\n}\n' \
  "$MID" "$MNAME" "$VAULT" "$API_URL" "$DIR/private.pem" > "$DIR/identity.json"
chmod 600 "$DIR/identity.json"
echo "Registered machine $MID ($MNAME) in $VAULT: pending approval by the vault owner."
echo "Identity: $DIR/identity.json"
