/**
 * The README for an adopter and the depth one click away in docs/: the inputs and outputs tables are what
 * `npm run docs` generates from action.yml (so CI fails when they drift), the README stays at most 15 KB,
 * every relative link (and its #anchor) in the README, docs/ and the other top-level documents resolves,
 * every docs/ page is reachable from the README, and no line is as wide as the old token table.
 */
import { describe, expect, it, test } from '@jest/globals'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { parse } from 'yaml'
import { generateReadme, inputsTable, outputsTable, pinExamples } from '../scripts/generate-docs.ts'
import { ROOT } from '../simulators/harness.ts'

const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8')
const actionYaml = read('action.yml')
const action = parse(actionYaml) as { inputs: Record<string, { required?: boolean; default?: string }>; outputs: Record<string, unknown> }
const readme = read('README.md')
const docsPages = readdirSync(path.join(ROOT, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .map((f) => `docs/${f}`)
const documents = ['README.md', ...docsPages, 'CONTRIBUTING.md', 'SECURITY.md', 'CHANGELOG.md', '__tests__/README.md']

/** The text a reader sees as prose: fenced blocks and inline code removed, so a link shown as code is not a link. */
const prose = (text: string): string => text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '')

/** Relative link targets of a Markdown file (inline links), as written. */
function relativeLinks(text: string): string[] {
  return [...prose(text).matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((target) => !/^[a-z]+:/i.test(target))
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string): string =>
  heading
    .replace(/`/g, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')

function anchors(file: string): Set<string> {
  return new Set([...prose(read(file)).matchAll(/^#{1,6} +(.+?) *$/gm)].map((m) => slug(m[1])))
}

/** The rows of a generated table in the README (between its markers), as cells. */
function readmeRows(marker: string): string[][] {
  const block = new RegExp(`<!-- ${marker}:start[^>]*-->([\\s\\S]*?)<!-- ${marker}:end -->`).exec(readme)?.[1] ?? ''
  return block
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) =>
      line
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((cell) => cell.trim().replace(/^`|`$/g, ''))
    )
}

describe('the inputs and outputs tables', () => {
  test('the README holds exactly what `npm run docs` generates from action.yml', () => {
    expect(generateReadme(readme, actionYaml)).toBe(readme)
  })

  test('the inputs table lists every input of action.yml, in order, with its requirement and default', () => {
    const rows = readmeRows('inputs').map(([name, required, fallback]) => ({ name, required: required === 'yes', default: fallback }))
    const expected = Object.entries(action.inputs).map(([name, spec]) => ({ name, required: spec.required === true, default: spec.default ?? '' }))
    expect(rows).toEqual(expected)
  })

  test('the outputs table lists every output of action.yml, in order', () => {
    expect(readmeRows('outputs').map(([name]) => name)).toEqual(Object.keys(action.outputs))
  })

  test('the generator escapes pipes, keeps each description on one line, and links a docs/ page', () => {
    const table = inputsTable({ inputs: { targets: { description: 'a | b\n  c (docs/targets.md)', default: 'repo' } } })
    expect(table.split('\n')[2]).toBe('| `targets` | no | `repo` | a \\| b c ([targets](docs/targets.md)) |')
    expect(outputsTable({ outputs: { result: { description: 'r' } } }).split('\n')).toEqual([
      '| Output | Description |',
      '| --- | --- |',
      '| `result` | r |'
    ])
  })

  test('a README without the markers is an error, not a silent no-op', () => {
    expect(() => generateReadme('# no tables here\n', actionYaml)).toThrow('<!-- inputs:start -->')
  })
})

describe('pinning a release (npm run docs -- --pin, run by scripts/release.sh)', () => {
  const sha = 'a'.repeat(40)

  it.each(['README.md', ...docsPages].map((file) => ({ file })))('moves every pin of this action in $file, and nothing else', ({ file }) => {
    const text = read(file)
    const uses = text.split('\n').filter((line) => line.includes('/thingspace-password-rotation@')).length
    const pinned = pinExamples(text, sha, '1.2.3')
    expect(pinned.pins).toBe(uses)
    expect(pinned.text.split('\n').filter((line) => line.includes(`/thingspace-password-rotation@${sha} # v1.2.3`))).toHaveLength(uses)
    const withoutPins = (t: string): string => t.replace(/(thingspace-password-rotation)@[0-9a-f]{40} # v\d+\.\d+\.\d+$/gm, '$1')
    expect(withoutPins(pinned.text)).toBe(withoutPins(text))
  })

  test('refuses what is not a full SHA and a version', () => {
    expect(() => pinExamples(readme, 'abc123', '1.2.3')).toThrow('40-hex commit SHA')
    expect(() => pinExamples(readme, sha, 'v1.2')).toThrow('X.Y.Z')
  })
})

describe('the README', () => {
  test('is at most 15 KB', () => {
    expect(Buffer.byteLength(readme, 'utf8')).toBeLessThanOrEqual(15 * 1024)
  })

  test('has the sections an adopter needs, prerequisites numbered', () => {
    const headings = [...readme.matchAll(/^##+ (.+)$/gm)].map((m) => m[1])
    expect(headings).toEqual(expect.arrayContaining(['Prerequisites', 'Quick start', 'Try it locally first', 'Inputs', 'Outputs']))
    const prerequisites = readme.slice(readme.indexOf('## Prerequisites'), readme.indexOf('## Quick start'))
    expect([...prerequisites.matchAll(/^(\d+)\. /gm)].map((m) => Number(m[1]))).toEqual([1, 2, 3, 4, 5])
  })

  test('every docs/ page is linked from the README or from docs/README.md, which the README links', () => {
    const linked = new Set([
      ...relativeLinks(readme).map((l) => path.normalize(l.split('#')[0])),
      ...relativeLinks(read('docs/README.md')).map((l) => path.normalize(path.join('docs', l.split('#')[0])))
    ])
    expect(linked.has('docs/README.md')).toBe(true)
    expect(docsPages.filter((page) => !linked.has(page))).toEqual([])
  })
})

describe('links', () => {
  it.each(documents.map((file) => ({ file })))('every relative link of $file resolves, anchors included', ({ file }) => {
    const broken = relativeLinks(read(file)).filter((link) => {
      const [target, anchor] = link.split('#')
      const resolved = target === '' ? file : path.normalize(path.join(path.dirname(file), target))
      if (!existsSync(path.join(ROOT, resolved))) return true
      return anchor !== undefined && resolved.endsWith('.md') && !anchors(resolved).has(anchor)
    })
    expect(broken).toEqual([])
  })

  test('the link check sees the links (it would fail on a broken one)', () => {
    expect(relativeLinks('[a](docs/recovery.md) `[b](nowhere.md)` [c](https://example.com)')).toEqual(['docs/recovery.md'])
    expect(anchors('docs/how-it-works.md').has('the-stale-password-guard')).toBe(true)
  })
})

test('no line of the README or docs/ is as wide as the old token table (220 characters)', () => {
  const wide = ['README.md', ...docsPages].flatMap((file) =>
    read(file)
      .split('\n')
      .map((line, i) => ({ where: `${file}:${i + 1}`, width: line.length }))
      .filter((l) => l.width >= 220)
  )
  expect(wide).toEqual([])
})
