#!/usr/bin/env bash
# The test command (`npm test`, `npm test -- test/listener`).
#
# 1. Provisions the peer binaries (dcmtk, Orthanc, Ceph RGW) from Debian when
#    any is missing.
# 2. Runs `vitest run "$@"` inside a fresh network namespace whose only
#    interface is `lo`: Orthanc and storescp cannot bind 127.0.0.1 only, so
#    they must never run where "all interfaces" includes a real network.
#    The namespace is also a PID namespace: when the run ends, however it
#    ends, the kernel kills every process the suite started (no leaked Ceph
#    OSD holding gigabytes of memstore, no stray Orthanc).
# 3. Exits with vitest's exit code.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
# Node 24 and vitest from the repo first; /usr/sbin for Orthanc and ip when not root.
export PATH="$repo/node_modules/.bin:$PATH:/usr/sbin:/sbin"

REQUIRED=(storescu echoscu storescp dcmftest dcmdump dcmconv dcmcjpeg dcmcjpls dcmcrle
          Orthanc ceph-mon ceph-osd ceph radosgw radosgw-admin monmaptool uuidgen unshare ip openssl)
PACKAGES=(dcmtk orthanc ceph-mon ceph-osd radosgw uuid-runtime iproute2 util-linux openssl)

say() { echo "run-tests: $*" >&2; }

missing_peers() {
  local c p
  for c in "${REQUIRED[@]}"; do
    p="$(command -v "$c" 2>/dev/null)" && [ -f "$p" ] && [ -x "$p" ] || echo "$c"
  done
}

provision() {
  local missing sudo=()
  missing="$(missing_peers | tr '\n' ' ')"
  [ -z "$missing" ] && return 0
  say "missing peers: $missing"
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      say "not root and no sudo; install them with:"
      say "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${PACKAGES[*]}"
      exit 1
    fi
  fi
  # Keep package postinst scripts from starting daemons (Debian's orthanc
  # package would start Orthanc on all interfaces of this host): the
  # policy-rc.d convention makes invoke-rc.d/deb-systemd-invoke skip starts.
  local policy=/usr/sbin/policy-rc.d created_policy=
  if [ ! -e "$policy" ]; then
    "${sudo[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    created_policy=1
  fi
  say "installing: ${PACKAGES[*]}"
  local rc=0
  { "${sudo[@]}" apt-get update -q &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"; } || rc=$?
  [ -n "$created_policy" ] && "${sudo[@]}" rm -f "$policy"
  [ "$rc" -eq 0 ] || { say "apt-get failed ($rc)"; exit "$rc"; }
  missing="$(missing_peers | tr '\n' ' ')"
  if [ -n "$missing" ]; then say "still missing after install: $missing"; exit 1; fi
}

provision

# Root creates the namespaces directly; others need a user namespace (-r maps
# them to root inside it, which is what `ip link set lo up` needs).
if [ "$(id -u)" -eq 0 ]; then userns=(); else userns=(--user --map-root-user); fi
ns=(unshare "${userns[@]}" --net --pid --fork --kill-child --mount-proc)
if ! "${ns[@]}" true 2>/dev/null; then
  say "PID namespace unavailable; using a network namespace only (leftover processes are not reaped automatically)"
  ns=(unshare "${userns[@]}" --net)
fi

say "running vitest in an isolated loopback-only network namespace"
# sh stays PID 1 of the namespace (vitest as PID 1 would ignore SIGTERM);
# vitest's exit code is sh's, which is unshare's, which is ours.
exec "${ns[@]}" sh -c 'ip link set lo up && vitest run "$@"' run-tests "$@"
