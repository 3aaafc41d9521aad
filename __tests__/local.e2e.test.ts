/**
 * `npm run local` as the README tells a newcomer to run it: `.env.example` as it is (only the simulators'
 * ports differ, since these listen wherever the system puts them), `@github/local-action` running
 * src/main.ts against the simulators, with its stand-in for @actions/core. A local run repeats, and a
 * failed one reports and exits 1 exactly as on the runner.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ROOT, startSimulators, type Simulators } from '../simulators/harness.ts'

let sims: Simulators
let dir: string

beforeEach(async () => {
  sims = await startSimulators()
  dir = mkdtempSync(path.join(tmpdir(), 'local-run-'))
})

afterEach(async () => {
  await sims.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** .env.example pointed at these simulators, with `change` applied. */
function envFile(change: (text: string) => string = (text) => text): string {
  const example = readFileSync(path.join(ROOT, '.env.example'), 'utf8')
  const text = change(example.replaceAll('http://127.0.0.1:4010', sims.thingspace.url).replaceAll('http://127.0.0.1:4020', sims.github.url))
  const file = path.join(dir, `${Math.random().toString(36).slice(2)}.env`)
  writeFileSync(file, text)
  return file
}

/** `npm run local` with that env file; only what a developer's shell has, nothing a CI runner adds (GITHUB_*). */
function npmRunLocal(file: string): Promise<{ code: number | null; output: string }> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? dir,
    LOCAL_ENV_FILE: file,
    // local-action replaces @actions/core by its resolved path; a node_modules that is a symlink (a git
    // worktree sharing one install) resolves elsewhere unless symlinks are kept. With no symlink this changes nothing.
    NODE_OPTIONS: '--preserve-symlinks'
  }
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', 'local'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')))
    child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')))
    child.on('close', (code) => resolve({ code, output }))
  })
}

/** The row of local-action's "Action Outputs" table for one output (its console.table). */
const outputRow = (name: string, value: string): RegExp => new RegExp(`│ +\\d+ +│ '${name}' +│ '${value}' +│`)

describe('npm run local', () => {
  test('.env.example against the simulators is a green dry run, and it repeats', async () => {
    const file = envFile()
    const first = await npmRunLocal(file)
    const second = await npmRunLocal(file)
    for (const run of [first, second]) {
      expect({ code: run.code, notice: run.output.includes('::notice title=ThingSpace password rotation: dry-run::') }).toEqual({
        code: 0,
        notice: true
      })
      expect(run.output).toMatch(outputRow('result', 'dry-run'))
    }
    expect(sims.thingspace.calls('reset')).toHaveLength(0)
    expect(sims.thingspace.calls('login').map((c) => c.status)).toEqual([200, 200])
  }, 90_000)

  test('a wrong password: the report and its error line, then exit code 1, as on the runner', async () => {
    const run = await npmRunLocal(envFile((text) => text.replace('INPUT_PASSWORD=Initial-Passw0rd', 'INPUT_PASSWORD=Not-The-Passw0rd')))
    expect(run.code).toBe(1)
    expect(run.output).toContain(
      '::error title=ThingSpace password rotation: failed-unchanged::The password was not changed: ThingSpace refused the login'
    )
    expect(run.output).toMatch(outputRow('result', 'failed-unchanged'))
    expect(run.output).toMatch(outputRow('targets-updated', '0'))
    expect(run.output).not.toMatch(/TypeError|report\.ts:\d+/)
    expect(sims.thingspace.calls('login').map((c) => c.status)).toEqual([400])
    expect(sims.thingspace.calls('reset')).toHaveLength(0)
  }, 60_000)
})
