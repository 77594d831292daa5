#!/usr/bin/env bash
# packaging/build-deb.sh OUTDIR - build vigil's Debian packages (debian/)
# into OUTDIR: vigil_<version>_<arch>.deb, libvigil-dev_..., and their
# .buildinfo and .changes. What `make deb` runs.
#
# dpkg-buildpackage writes beside and inside the tree it builds (obj-*/,
# debian/tmp, ../*.deb), so it runs on a copy in OUTDIR/src: the working
# tree stays as it is. The copy holds the files git knows, plus new ones
# not ignored (a clone, or a working tree with uncommitted work), never
# build directories.
#
# DEB_BUILD_OPTIONS passes through (nocheck skips the C unit tests, noddebs
# the -dbgsym package); JOBS sets the parallelism (default 2).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)

for tool in dpkg-buildpackage dh fakeroot cmake; do
  command -v "$tool" >/dev/null || {
    echo "build-deb: $tool is missing: run make deps-deb (apt-get install debhelper fakeroot dpkg-dev cmake)" >&2
    exit 1
  }
done

version=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
src="$out/src/vigil-$version"
rm -rf "$out/src"
mkdir -p "$src"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Files git tracks or would track (not ignored), that exist now.
  (cd "$root" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null --no-recursion -T - -cf -) | tar -xf - -C "$src"
else
  tar -C "$root" --exclude='./build' --exclude='./build-*' --exclude='./obj-*' -cf - . | tar -xf - -C "$src"
fi

cd "$src"
opts="${DEB_BUILD_OPTIONS:-}"
export DEB_BUILD_OPTIONS="${opts:+$opts }parallel=${JOBS:-2}"
# -b: binary packages only (a native package: no source to sign or ship).
dpkg-buildpackage -b -us -uc >"$out/build.log" 2>&1 || {
  tail -40 "$out/build.log" >&2
  echo "build-deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
  exit 1
}
mv -f "$out"/src/*.deb "$out"/src/*.buildinfo "$out"/src/*.changes "$out"/ 2>/dev/null || true
mv -f "$out"/src/*.ddeb "$out"/ 2>/dev/null || true
rm -rf "$out/src"
ls "$out"/*.deb
