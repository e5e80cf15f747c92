#!/bin/bash
# Container health probe for ofdd: GET /healthz on the admin listener, healthy only on HTTP 200.
#
# Uses bash's /dev/tcp, because debian:bookworm-slim has no curl or wget and ofdd has no HTTP
# client command. The admin address comes from OFDD_ADMIN_LISTEN (the image sets 0.0.0.0:9100);
# a wildcard address is probed on loopback. Exit 0 = healthy, 1 = unhealthy (reason on stderr).
set -u

addr="${OFDD_ADMIN_LISTEN:-127.0.0.1:9100}"
port="${addr##*:}"
host="${addr%:*}"
host="${host#[}"
host="${host%]}"
case "$host" in
    0.0.0.0 | "") host=127.0.0.1 ;;
    ::) host=::1 ;;
esac

if ! { exec 3<>"/dev/tcp/${host}/${port}"; } 2>/dev/null; then
    echo "ofdd-healthcheck: cannot connect to ${host}:${port}" >&2
    exit 1
fi
# A peer that closes early must make the probe fail, not kill it with SIGPIPE.
trap '' PIPE
request=$'GET /healthz HTTP/1.0\r\nHost: '"${host}"$'\r\nConnection: close\r\n\r\n'
if ! printf '%s' "$request" >&3 2>/dev/null; then
    echo "ofdd-healthcheck: cannot send the request to ${host}:${port}" >&2
    exit 1
fi
if ! IFS= read -r -t 4 status <&3; then
    echo "ofdd-healthcheck: no answer from ${host}:${port}" >&2
    exit 1
fi
status="${status%$'\r'}"
case "$status" in
    "HTTP/1."?" 200"*) exit 0 ;;
    *)
        echo "ofdd-healthcheck: /healthz answered: ${status}" >&2
        exit 1
        ;;
esac
