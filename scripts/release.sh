#!/usr/bin/env bash
# Cuts a release: scripts/release.sh 1.2.3
# Checks that main is clean, tested and bundled, that CHANGELOG.md has a "## 1.2.3" section, sets
# the version in package.json, commits, tags v1.2.3 and moves the major tag (v1) to it. Nothing is
# pushed: the commands to push are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:-}"
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "usage: scripts/release.sh X.Y.Z" >&2
  exit 2
fi
major="v${version%%.*}"

[ "$(git rev-parse --abbrev-ref HEAD)" = main ] || { echo "Release from main." >&2; exit 1; }
[ -z "$(git status --porcelain)" ] || { echo "The work tree is not clean." >&2; exit 1; }
git rev-parse -q --verify "refs/tags/v$version" >/dev/null && { echo "v$version exists already." >&2; exit 1; }
grep -q "^## $version" CHANGELOG.md || { echo "CHANGELOG.md has no '## $version' section." >&2; exit 1; }

npm ci
npm test
npm run bundle
[ -z "$(git status --porcelain -- dist/)" ] || { echo "dist/ was stale; commit the rebuilt bundle first." >&2; exit 1; }

npm version "$version" --no-git-tag-version >/dev/null
git commit -qam "Release v$version"
git tag -a "v$version" -m "v$version"
git tag -fa "$major" -m "$major (v$version)"

echo "Tagged v$version and moved $major. Publish with:"
echo "  git push origin main v$version && git push --force origin $major"
echo "then draft the GitHub release for v$version from CHANGELOG.md (and publish it to the Marketplace)."
