#!/bin/sh
# Makes Docker usable for the container tests, on a fresh Debian machine as root:
# installs docker.io, docker-compose and debootstrap, starts dockerd, and builds the base
# image the tests use (nothing can be pulled here, so it is made from Debian packages).
# Prints nothing but errors; exits 0 when Docker is usable. Without root it only checks.
set -eu
export DEBIAN_FRONTEND=noninteractive
exec </dev/null
IMAGE=${PULPO_TEST_BASE_IMAGE:-pulpo-test-base:bookworm}

# One apt-get at a time, with `make browser` and the Makefile's other installs. Neither
# lock may pass to a daemon a package's install script starts (9>&-, --close).
apt_get() { flock --close /tmp/pulpo-apt.lock apt-get "$@" 9>&-; }

# One at a time: `make test` starts it in the background, and the tests' fixture runs
# it again, which waits here until the first is done and then finds everything ready.
exec 9>"${TMPDIR:-/tmp}/pulpo-ensure-docker.lock"
flock 9

if ! command -v docker-compose >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt_get install -y -qq docker-compose >/dev/null 2>&1 ||
        { apt_get update -qq && apt_get install -y -qq docker-compose >/dev/null; }
fi

if ! docker info >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { echo "docker is not usable and this is not root" >&2; exit 1; }
    if ! command -v dockerd >/dev/null 2>&1; then
        apt_get update -qq && apt_get install -y -qq docker.io >/dev/null
    fi
    mkdir -p /var/log
    # 9>&-: dockerd outlives this script and must not inherit (and so hold) the lock.
    nohup dockerd </dev/null >/var/log/pulpo-dockerd.log 2>&1 9>&- &
    tries=0
    until docker info >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ $tries -lt 60 ] || { echo "dockerd did not start: see /var/log/pulpo-dockerd.log" >&2; exit 1; }
        sleep 1
    done
fi

if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { echo "base image $IMAGE is missing and this is not root" >&2; exit 1; }
    command -v debootstrap >/dev/null 2>&1 || apt_get install -y -qq debootstrap >/dev/null 2>&1 ||
        { apt_get update -qq && apt_get install -y -qq debootstrap >/dev/null; }
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    mirror=${mirror:-http://deb.debian.org/debian}
    root=$(mktemp -d)
    debootstrap --variant=minbase --include=python3,python3-venv bookworm "$root" "$mirror" >/dev/null
    tar -C "$root" -c . | docker import -c 'CMD ["python3"]' - "$IMAGE" >/dev/null
    rm -rf "$root"
fi
