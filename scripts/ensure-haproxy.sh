#!/bin/sh
# The lab needs a real HAProxy. Install Debian's package when missing and we are root (CI is);
# otherwise say exactly what to run.
set -eu
if command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing haproxy (Debian package) for the lab's data plane" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
    exit 0
fi
echo "haproxy is missing: run 'sudo apt-get install haproxy' (the lab's load balancer)" >&2
exit 1
