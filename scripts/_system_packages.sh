# Sourced by scripts/test: the Debian tools the tests run (nginx as the load balancer
# of the replica test, docker-compose to validate the compose file, chromium and a
# font for the web app's journeys in a real browser).
# Installed when missing and this is a Debian machine where we are root.
set -euo pipefail
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -d /usr/share/fonts/truetype/dejavu ] || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian packages for the deployment tests: ${missing[*]}…" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  else
    echo "The tests need: ${missing[*]} (Debian: apt-get install ${missing[*]})." >&2
  fi
fi
