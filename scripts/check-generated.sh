#!/usr/bin/env bash
# Fails when the committed *.pb.go differ from what scripts/generate.sh
# produces (stale, missing or left over). CI runs this.
exec "$(dirname "$0")/generate.sh" --check
