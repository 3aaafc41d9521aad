/**
 * Writes dist/licenses.txt: every package the bundle ships, with its license and license text. ncc's
 * own --license output is written per chunk under one name, so the lazily loaded libsodium chunk's
 * list replaced the main chunk's; this reads the build's stats instead (ncc --stats-out).
 *   node scripts/licenses.ts STATS_JSON OUTPUT
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'

const [statsFile, output] = process.argv.slice(2)
const stats = JSON.parse(readFileSync(statsFile, 'utf8')) as { modules?: { name?: string; modules?: { name?: string }[] }[] }

/** The package directory a bundled module came from (the innermost node_modules/<name>). */
function packageDir(moduleName: string): string | undefined {
  const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(moduleName.replace(/^\.\//, '').replace(/ \+ \d+ modules$/, ''))
  return match?.[1]
}

const names = (stats.modules ?? []).flatMap((m) => [m.name ?? '', ...(m.modules ?? []).map((inner) => inner.name ?? '')])
const dirs = [...new Set(names.map(packageDir).filter((d): d is string => d !== undefined))]

const entries = dirs
  .map((dir) => {
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name: string; version: string; license?: string }
    const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f))
    const text = file && existsSync(path.join(dir, file)) ? readFileSync(path.join(dir, file), 'utf8').trim() : '(no license file in the package)'
    return { name: pkg.name, version: pkg.version, license: pkg.license ?? 'UNKNOWN', text }
  })
  .sort((a, b) => a.name.localeCompare(b.name))

const unique = entries.filter((e, i) => i === 0 || e.name !== entries[i - 1].name || e.version !== entries[i - 1].version)
writeFileSync(output, unique.map((e) => `${e.name}@${e.version}\n${e.license}\n${e.text}\n`).join('\n'))
console.log(`${output}: ${unique.length} packages`)
