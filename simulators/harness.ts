/**
 * Runs the bundled action the way the runner does: `node dist/index.js` with INPUT_* variables
 * (action.yml defaults applied), GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_STATE, GITHUB_ENV and
 * GITHUB_API_URL, against the simulators. Tests, the demo and the benchmark share it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { GitHubSimulator } from './github.ts'
import { ThingSpaceSimulator, type ThingSpaceOptions } from './thingspace.ts'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** Node 24 from the `node` dev dependency when installed (the runtime action.yml declares), else this one. */
export const NODE = existsSync(path.join(ROOT, 'node_modules/node/bin/node')) ? path.join(ROOT, 'node_modules/node/bin/node') : process.execPath

export const FIXTURE = {
  githubToken: 'ghp_SimulatorToken0123456789abcdefABCDEF',
  repository: 'acme/fleet',
  environment: 'production',
  org: 'acme',
  runId: 4242
}

export interface Simulators {
  thingspace: ThingSpaceSimulator
  github: GitHubSimulator
  stop: () => Promise<void>
}

/** Both simulators on 127.0.0.1, with a repository (and its environment), an organization and a workflow run. */
export async function startSimulators(options: ThingSpaceOptions = {}): Promise<Simulators> {
  const thingspace = new ThingSpaceSimulator(options)
  const github = await GitHubSimulator.create()
  github.addToken(FIXTURE.githubToken)
  github.addRepo(FIXTURE.repository, [FIXTURE.environment])
  github.addOrg(FIXTURE.org)
  github.addRun(FIXTURE.runId, new Date(Date.now() - 60_000))
  await Promise.all([thingspace.start(), github.start()])
  return { thingspace, github, stop: async () => void (await Promise.all([thingspace.stop(), github.stop()])) }
}

export interface ActionRun {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  outputs: Record<string, string>
  summary: string
  /** The raw files the runner would read back; the action should leave state and env empty. */
  files: { output: string; summary: string; state: string; env: string }
  /** Milliseconds from spawn to exit. */
  wallMs: number
  spawnedAt: number
}

export interface RunOptions {
  inputs?: Record<string, string>
  env?: Record<string, string>
  /** Called right after the process starts (to send it signals). */
  onSpawn?: (child: ChildProcess) => void
  entry?: string
}

let defaults: Record<string, string> | undefined

/** The inputs action.yml declares, with their defaults ('' when none). */
export function actionDefaults(): Record<string, string> {
  if (!defaults) {
    const action = parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as { inputs: Record<string, { default?: string | number | boolean }> }
    defaults = Object.fromEntries(Object.entries(action.inputs).map(([name, spec]) => [name, spec.default === undefined ? '' : String(spec.default)]))
  }
  return defaults
}

/** Inputs that log in to the simulators with their current credentials. */
export function standardInputs(sims: Simulators): Record<string, string> {
  return {
    username: sims.thingspace.username,
    password: sims.thingspace.password,
    'client-id': sims.thingspace.appKey,
    'client-secret': sims.thingspace.appSecret,
    'github-token': FIXTURE.githubToken,
    'thingspace-url': sims.thingspace.url
  }
}

export function parseOutputFile(text: string): Record<string, string> {
  const outputs: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([^<=]+)<<(.+)$/.exec(lines[i])
    if (heredoc) {
      const end = lines.indexOf(heredoc[2], i + 1)
      outputs[heredoc[1]] = lines.slice(i + 1, end).join('\n')
      i = end
    } else if (lines[i].includes('=')) {
      const at = lines[i].indexOf('=')
      outputs[lines[i].slice(0, at)] = lines[i].slice(at + 1)
    }
  }
  return outputs
}

export async function runAction(sims: Simulators, options: RunOptions = {}): Promise<ActionRun> {
  const dir = mkdtempSync(path.join(tmpdir(), 'thingspace-action-'))
  const files = { output: path.join(dir, 'output'), summary: path.join(dir, 'summary'), state: path.join(dir, 'state'), env: path.join(dir, 'env') }
  for (const file of Object.values(files)) writeFileSync(file, '')
  const inputs = { ...actionDefaults(), ...standardInputs(sims), ...options.inputs }
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_API_URL: sims.github.url,
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_REPOSITORY: FIXTURE.repository,
    GITHUB_RUN_ID: String(FIXTURE.runId),
    GITHUB_OUTPUT: files.output,
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_STATE: files.state,
    GITHUB_ENV: files.env,
    RUNNER_TEMP: dir,
    ...Object.fromEntries(Object.entries(inputs).map(([name, value]) => [`INPUT_${name.replace(/ /g, '_').toUpperCase()}`, value])),
    ...options.env
  }
  const spawnedAt = performance.timeOrigin + performance.now()
  const child = spawn(NODE, [options.entry ?? path.join(ROOT, 'dist/index.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')))
  options.onSpawn?.(child)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])))
  const wallMs = performance.timeOrigin + performance.now() - spawnedAt
  const read = (file: string): string => readFileSync(file, 'utf8')
  const raw = { output: read(files.output), summary: read(files.summary), state: read(files.state), env: read(files.env) }
  rmSync(dir, { recursive: true, force: true })
  return { code, signal, stdout, stderr, outputs: parseOutputFile(raw.output), summary: raw.summary, files: raw, wallMs, spawnedAt }
}
