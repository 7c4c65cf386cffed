#!/usr/bin/env bash
# Build the collection tarball from a copy of the checkout with caches planted in it, check what the tarball
# holds, install it offline into a scratch path, check ansible-doc renders every module, and check that
# ansible-builder reads the collection's execution-environment metadata and creates a build context.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "build: $*" >&2; exit 1; }

# The files git knows (tracked or not ignored), plus the caches and local state a working checkout collects.
src="$work/src"
mkdir -p "$src"
(cd "$root" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -xf - -C "$src"
for junk in .pytest_cache tests/.pytest_cache tests/unit/.hypothesis .hypothesis .cache tests/.cache .venv \
            .collections .sanity .ansible roles/listener/.ansible tests/output plugins/module_utils/__pycache__ \
            roles/listener/files/netevents_listener/__pycache__ build dist roles/listener/files/build; do
  mkdir -p "$src/$junk" && echo planted >"$src/$junk/planted"
done
echo planted >"$src/plugins/module_utils/planted.pyc"
mkdir -p "$src/roles/listener/files/netevents_listener.egg-info" && echo planted >"$src/roles/listener/files/netevents_listener.egg-info/PKG-INFO"

# Only the scratch path: a collection found elsewhere (the checkout's .collections) would make install skip.
export ANSIBLE_COLLECTIONS_PATH="$work/collections"
ansible-galaxy collection build "$src" --output-path "$work" --force >/dev/null
tarball=$(ls "$work"/netevents-nutanix-*.tar.gz)
listing=$(tar -tzf "$tarball")
if grep -E 'planted|(^|/)(\.pytest_cache|\.hypothesis|\.cache|__pycache__|\.ansible|\.venv|\.collections|\.sanity|tests/output|bench|demo|build|dist)(/|$)|\.pyc$|\.egg-info|^Makefile$|^tests/unit/bench/' <<<"$listing"; then
  fail "the tarball holds the files above, which build_ignore in galaxy.yml should keep out"
fi
for needed in meta/execution-environment.yml meta/ee-bindep.txt requirements.txt roles/listener/files/pyproject.toml \
              roles/listener/files/requirements.txt roles/listener/meta/argument_specs.yml playbooks/sync_firewall.yml \
              plugins/filter/secrets_to_files.py tests/functional/test_role_listener.py; do
  grep -qx "$needed" <<<"$listing" || fail "the tarball lacks $needed"
done
ansible-galaxy collection install --offline --force -p "$work/collections" "$tarball" >/dev/null

cd "$work"
count=0
for module in "$root"/plugins/modules/*.py; do
  name=$(basename "$module" .py)
  out=$(ansible-doc "netevents.nutanix.$name")
  for section in EXAMPLES "RETURN VALUES"; do
    grep -q "$section" <<<"$out" || fail "ansible-doc $name: no $section"
  done
  count=$((count + 1))
done
ansible-doc -t filter netevents.nutanix.secrets_to_files | grep -q "RETURN VALUES" || fail "ansible-doc: secrets_to_files"

# ansible-builder reads meta/execution-environment.yml of the installed collection ...
introspect=$(ansible-builder introspect --sanitize "$work/collections")
for entry in "pan-os-python==1.13.1  # from collection netevents.nutanix" \
             "hatchling==1.33.0  # from collection netevents.nutanix" \
             "openssh-clients [platform:rpm]  # from collection netevents.nutanix" \
             "openssh-client [platform:dpkg]  # from collection netevents.nutanix"; do
  grep -qF "$entry" <<<"$introspect" || { echo "$introspect" >&2; fail "ansible-builder introspect: no '$entry'"; }
done
# ... and creates the build context of an EE that installs this tarball (no container engine is needed for that).
mkdir -p "$work/ee"
cp "$tarball" "$work/ee/"
cat >"$work/ee/execution-environment.yml" <<YAML
version: 3
images:
  base_image:
    name: quay.io/fedora/python-311:latest
dependencies:
  ansible_core:
    package_pip: ansible-core==2.19.14
  ansible_runner:
    package_pip: ansible-runner==2.4.3
  galaxy:
    collections:
      - name: /build/$(basename "$tarball")
        type: file
# The context's _build/ becomes /build in the image's galaxy stage.
additional_build_files:
  - src: $(basename "$tarball")
    dest: .
YAML
ansible-builder create -f "$work/ee/execution-environment.yml" -c "$work/ee/context" --output-filename Containerfile >/dev/null
test -f "$work/ee/context/Containerfile" || fail "ansible-builder create: no Containerfile"
test -f "$work/ee/context/_build/$(basename "$tarball")" || fail "ansible-builder create: the tarball is not in the context"
grep -q "netevents-nutanix" "$work/ee/context/_build/requirements.yml" || fail "ansible-builder create: no galaxy requirement"
grep -q "introspect" "$work/ee/context/Containerfile" || fail "ansible-builder create: the Containerfile does not introspect"

echo "built $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB, $(wc -l <<<"$listing") entries, no cache), installed it offline," \
     "ansible-doc rendered $count modules; ansible-builder read meta/execution-environment.yml and created a build context"
