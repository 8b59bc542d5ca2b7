#!/bin/sh
# Fails when the #include lines of server/ and client/ make a cycle between
# their folders (server/engine, server/policy, client/suite, ...), and prints
# the folders bottom to top when they do not. A folder's subfolders count as
# the folder (server/policy/cel is server/policy); files directly in server/
# are verdictd's main. Usage: check_include_cycles.sh [ROOT], ROOT holding
# server/ and client/ (default: the current directory).
set -eu
root=${1:-.}
cd "$root"
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

# folder_of PATH: the folder a source path belongs to.
folder_of='s#^\(server\|client\)/\([^/]*\)/.*#\1/\2#; t; s#^server/[^/]*$#server/main#; s#^client/[^/]*$#client/main#'

edges=$(
  find server client -type f \( -name '*.h' -o -name '*.cc' \) 2>/dev/null |
  sort |
  while read -r file; do
    from=$(printf '%s\n' "$file" | sed "$folder_of")
    # Every folder is a node, even one that includes nothing of ours.
    printf '%s %s\n' "$from" "$from"
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\(\(server\|client\)\/[^"]*\)".*/\1/p' "$file" |
    while read -r included; do
      to=$(printf '%s\n' "$included" | sed "$folder_of")
      [ "$to" = "$from" ] || printf '%s %s\n' "$to" "$from"
    done
  done | sort -u
)

if ! order=$(printf '%s\n' "$edges" | tsort 2>"$errors"); then
  cycle=$(sed -n 's/^tsort: //p' "$errors" | grep -v 'input contains a loop' || true)
  echo "include cycle between folders:" >&2
  printf '%s\n' "$edges" | while read -r to from; do
    if [ "$to" != "$from" ] && printf '%s\n' "$cycle" | grep -qx "$to" &&
      printf '%s\n' "$cycle" | grep -qx "$from"; then
      echo "  $from includes $to" >&2
    fi
  done
  exit 1
fi
echo "folders, bottom to top:"
printf '%s\n' "$order"
