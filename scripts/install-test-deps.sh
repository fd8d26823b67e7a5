#!/usr/bin/env bash
# Installs the real servers and clients the tests use (Debian/Ubuntu): PostgreSQL, Dovecot, swaks,
# Chromium (the nurture end-to-end test opens delivered emails in it).
# With --bench, also nginx and wrk, which bench/pixel.py measures against.
# Does nothing when they are already there; needs root (or sudo) the first time.
set -euo pipefail

need=()
command -v swaks >/dev/null 2>&1 || need+=(swaks)
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ "${1:-}" = "--bench" ]; then
  [ -x /usr/sbin/nginx ] || need+=(nginx)
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
fi
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
if ! id postgres >/dev/null 2>&1; then
  need+=(postgresql)
fi
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing test services: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian package starts a system cluster and Dovecot; the tests start their own on free ports.
$sudo systemctl disable --now postgresql dovecot nginx >/dev/null 2>&1 || true
