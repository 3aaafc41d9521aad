/**
 * `npm run docs`: writes the README's inputs and outputs tables from action.yml, the single source of
 * truth for both (as actions/checkout's misc/generate-docs.ts writes its usage block). Each table goes
 * between its markers, `<!-- inputs:start ... -->` and `<!-- inputs:end -->` (the same for outputs),
 * unpadded and fenced from Prettier, whose column alignment would pad every row to the widest
 * description (several kilobytes of spaces in a README kept under 15 KB).
 * __tests__/docs.test.ts compares the README with what this generates, so CI fails when they drift:
 * after changing an input or output in action.yml, run `npm run docs` and commit the README.
 *
 * `npm run docs -- --pin SHA X.Y.Z` (scripts/release.sh runs it) also rewrites every pin of this action in
 * the README and docs/, `uses: OWNER/thingspace-password-rotation@<40 hex> # vX.Y.Z`, to that release.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const README = path.join(ROOT, 'README.md')

interface ActionSpec {
  inputs?: Record<string, { description?: string; required?: boolean; default?: string | number | boolean }>
  outputs?: Record<string, { description?: string }>
}

/** One table cell: one line, pipes escaped, and a mention of a docs/ page (`docs/targets.md`) made a link to it. */
function cell(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/\|/g, '\\|')
    .replace(/(?<!\]\(|\[)\bdocs\/([a-z0-9-]+)\.md\b/g, '[$1](docs/$1.md)')
}

function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

export function inputsTable(action: ActionSpec): string {
  return markdownTable(
    ['Input', 'Required', 'Default', 'Description'],
    Object.entries(action.inputs ?? {}).map(([name, spec]) => [
      `\`${name}\``,
      spec.required === true ? 'yes' : 'no',
      spec.default === undefined || spec.default === '' ? '' : `\`${String(spec.default)}\``,
      cell(spec.description ?? '')
    ])
  )
}

export function outputsTable(action: ActionSpec): string {
  return markdownTable(
    ['Output', 'Description'],
    Object.entries(action.outputs ?? {}).map(([name, spec]) => [`\`${name}\``, cell(spec.description ?? '')])
  )
}

/** The README with both tables regenerated from the action.yml text; an error when a marker is missing. */
export function generateReadme(readme: string, actionYaml: string): string {
  const action = parse(actionYaml) as ActionSpec
  let text = readme
  for (const [marker, table] of [
    ['inputs', inputsTable(action)],
    ['outputs', outputsTable(action)]
  ] as const) {
    const block = new RegExp(`(<!-- ${marker}:start[^>]*-->\\n)[\\s\\S]*?(<!-- ${marker}:end -->)`)
    if (!block.test(text)) throw new Error(`README.md has no <!-- ${marker}:start --> ... <!-- ${marker}:end --> block`)
    const fenced = `<!-- prettier-ignore-start -->\n${table}\n<!-- prettier-ignore-end -->\n`
    text = text.replace(block, (_all, start: string, end: string) => `${start}${fenced}${end}`)
  }
  return text
}

/** A pin of this action as the examples write it: a full commit SHA and the version in a comment. */
const PIN = /(uses: [A-Za-z0-9-]+\/thingspace-password-rotation@)[0-9a-f]{40} # v\d+\.\d+\.\d+$/gm

/** The text with every pin of this action moved to `sha` and `version` (X.Y.Z), and how many were. */
export function pinExamples(text: string, sha: string, version: string): { text: string; pins: number } {
  if (!/^[0-9a-f]{40}$/.test(sha) || !/^\d+\.\d+\.\d+$/.test(version))
    throw new Error(`--pin needs a 40-hex commit SHA and X.Y.Z, got ${sha} ${version}`)
  let pins = 0
  const pinned = text.replace(PIN, (_all, uses: string) => {
    pins++
    return `${uses}${sha} # v${version}`
  })
  return { text: pinned, pins }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const before = readFileSync(README, 'utf8')
  const after = generateReadme(before, readFileSync(path.join(ROOT, 'action.yml'), 'utf8'))
  writeFileSync(README, after)
  console.log(
    after === before
      ? 'README.md: the inputs and outputs tables match action.yml.'
      : 'README.md: the inputs and outputs tables were rewritten from action.yml.'
  )
  const pin = process.argv.indexOf('--pin')
  if (pin > 0) {
    const [sha, version] = process.argv.slice(pin + 1, pin + 3)
    const files = [
      README,
      ...readdirSync(path.join(ROOT, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => path.join(ROOT, 'docs', f))
    ]
    let total = 0
    for (const file of files) {
      const { text, pins } = pinExamples(readFileSync(file, 'utf8'), sha, version)
      writeFileSync(file, text)
      total += pins
    }
    if (total === 0) throw new Error('no pin of this action found in README.md or docs/')
    console.log(`Pinned ${total} uses of this action to ${sha} (v${version}).`)
  }
}
