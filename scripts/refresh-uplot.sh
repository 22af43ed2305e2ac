#!/usr/bin/env bash
# Refresh the vendored uPlot (the HTML report's charts) at a pinned version.
#   scripts/refresh-uplot.sh            # the version pinned below
#   scripts/refresh-uplot.sh 1.6.33     # another one: then update VERSION and INTEGRITY here
# Fetches the npm tarball with `npm pack` (which checks it against the registry's
# integrity hash), checks it again against INTEGRITY, and copies the minified IIFE build,
# its CSS and its licence into src/killproof/report/vendor/.
set -euo pipefail
VERSION=${1:-1.6.32}
INTEGRITY=sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==
cd "$(dirname "$0")/.."
dest=src/killproof/report/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$VERSION" >/dev/null)
tarball="$tmp/uplot-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$VERSION" = 1.6.32 ] && [ "$got" != "$INTEGRITY" ]; then
  echo "refresh-uplot: uplot@$VERSION does not match the pinned integrity ($got)" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$tmp"
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$dest/"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
sed -i -e "s/^uPlot [0-9.]* /uPlot $VERSION /" -e "s/uplot@[0-9.]*/uplot@$VERSION/" "$dest/README.md"
echo "refresh-uplot: uPlot $VERSION in $dest ($got)"
