#!/bin/sh
set -e

# The entrypoint of the official node images (github.com/nodejs/docker-node,
# docker-entrypoint.sh): run the command with node when the first argument
# starts with "-" or is not a command (so `args: ["--port", "8080"]` means
# `node --port 8080`, as in the public image). The last part inside the "{}"
# is a workaround for a bug in ash/dash (https://bugs.debian.org/874264).
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi

exec "$@"
