#!/usr/bin/env bash
# System packages the test suite needs besides Python's: Debian's dovecot (IMAP server) for the
# mail channel's IMAP polling tests (tests/support/imap_server.py starts it on a loopback port with
# a throwaway config; the system service is never enabled or started).
set -euo pipefail

if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap_test: dovecot-imapd is missing; install it as root: apt-get install -y dovecot-imapd" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d: do not start the system dovecot during the install (tests run their own)
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=1
  fi
  apt-get install -y -qq --no-install-recommends dovecot-imapd >/dev/null
  if [ "$created_policy" -eq 1 ]; then
    rm -f "$policy"
  fi
fi
echo "bootstrap_test: dovecot $(dovecot --version 2>/dev/null || /usr/sbin/dovecot --version)"
