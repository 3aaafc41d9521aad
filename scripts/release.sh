#!/usr/bin/env bash
# Prepares a release: scripts/release.sh 1.2.3
# Checks that main is clean, tested and bundled and that CHANGELOG.md has a "## 1.2.3" section; sets the
# version in package.json, commits "Release v1.2.3" and tags that commit v1.2.3. Then, in a second commit,
# pins every use of this action in README.md and docs/ to the release (`@<sha> # v1.2.3`). Nothing is
# pushed: push the tag first (the Release workflow runs CI on it, publishes the release and moves the
# major tag), then main. See CONTRIBUTING.md, "Releasing".
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:-}"
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "usage: scripts/release.sh X.Y.Z" >&2
  exit 2
fi

[ "$(git rev-parse --abbrev-ref HEAD)" = main ] || { echo "Release from main." >&2; exit 1; }
[ -z "$(git status --porcelain)" ] || { echo "The work tree is not clean." >&2; exit 1; }
git rev-parse -q --verify "refs/tags/v$version" >/dev/null && { echo "v$version exists already." >&2; exit 1; }
grep -qE "^## $version( |$)" CHANGELOG.md || { echo "CHANGELOG.md has no '## $version' section." >&2; exit 1; }

npm ci
npm test
npm run bundle
[ -z "$(git status --porcelain -- dist/)" ] || { echo "dist/ was stale; commit the rebuilt bundle first." >&2; exit 1; }

npm version "$version" --no-git-tag-version >/dev/null
git commit -qam "Release v$version"
git tag -a "v$version" -m "v$version"
sha="$(git rev-parse HEAD)"

npm run --silent docs -- --pin "$sha" "$version"
git commit -qam "Pin the examples to v$version"

echo "Tagged v$version ($sha) and pinned the examples to it. Now:"
echo "  git push origin v$version    # the Release workflow runs CI on the tag, then publishes v$version and moves v${version%%.*}"
echo "  git push origin main         # once the release is published"
