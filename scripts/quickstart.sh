#!/usr/bin/env bash
# Install everything, then run the main job on the embedded default (a local repo):
# init, commit, change, commit, diff, mount a snapshot read-only, read from it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
GOT="$PWD/.venv/bin/got"
export GOT_AUTHOR="${GOT_AUTHOR:-got quickstart <quickstart@localhost>}"

demo="$(mktemp -d /tmp/got-quickstart.XXXXXX)"
cleanup() { fusermount3 -u -z "$demo/snapshot" 2>/dev/null || true; rm -rf "$demo"; }
trap cleanup EXIT
mkdir -p "$demo/work" "$demo/snapshot"
cp -r gotkv "$demo/work/src"
printf 'hello from got\n' > "$demo/work/notes.txt"
cd "$demo/work"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
step "$GOT" init
step "$GOT" commit -m "first snapshot"
printf 'a second line\n' >> notes.txt
rm src/cache.py
printf 'new file\n' > added.txt
step "$GOT" status
step "$GOT" commit -m "edit notes, drop cache.py, add added.txt"
step "$GOT" log --oneline
step "$GOT" diff HEAD~1 HEAD --stat
step "$GOT" diff HEAD~1 HEAD -- notes.txt
step "$GOT" mount HEAD~1 "$demo/snapshot"
step ls "$demo/snapshot"
step cat "$demo/snapshot/notes.txt"
step test -f "$demo/snapshot/src/cache.py"
step "$GOT" umount "$demo/snapshot"
step "$GOT" fsck
printf '\nquickstart: all steps passed\n'
