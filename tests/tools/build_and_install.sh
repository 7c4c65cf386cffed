#!/usr/bin/env bash
# Build the collection tarball, install it offline into a scratch path, and check ansible-doc renders every module.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Only the scratch path: a collection found elsewhere (the checkout's .collections) would make install skip.
export ANSIBLE_COLLECTIONS_PATH="$work/collections"
ansible-galaxy collection build "$root" --output-path "$work" --force >/dev/null
tarball=$(ls "$work"/netevents-nutanix-*.tar.gz)
ansible-galaxy collection install --offline --force -p "$work/collections" "$tarball" >/dev/null
cd "$work"
count=0
for module in "$root"/plugins/modules/*.py; do
  name=$(basename "$module" .py)
  out=$(ansible-doc "netevents.nutanix.$name")
  for section in EXAMPLES "RETURN VALUES"; do
    grep -q "$section" <<<"$out" || { echo "ansible-doc $name: no $section" >&2; exit 1; }
  done
  count=$((count + 1))
done
# The role and the playbooks ship too.
test -f "$work/collections/ansible_collections/netevents/nutanix/roles/listener/meta/argument_specs.yml"
test -f "$work/collections/ansible_collections/netevents/nutanix/playbooks/deploy_listener.yml"
echo "built $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB), installed it offline, ansible-doc rendered $count modules"
