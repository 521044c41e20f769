# Sourced by scripts/test: the Debian tools the deployment tests run (nginx as the
# load balancer of the replica test, docker-compose to validate the compose file).
# Installed when missing and this is a Debian machine where we are root.
set -euo pipefail
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian packages for the deployment tests: ${missing[*]}…" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  else
    echo "The deployment tests need: ${missing[*]} (Debian: apt-get install ${missing[*]})." >&2
  fi
fi
