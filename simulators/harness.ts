/**
 * Runs the bundled action the way the runner does: `node dist/index.js` with INPUT_* variables
 * (action.yml defaults applied, `${{ github.* }}` expressions evaluated), GITHUB_OUTPUT,
 * GITHUB_STEP_SUMMARY, GITHUB_STATE, GITHUB_ENV and GITHUB_API_URL, against the simulators. Tests, the
 * demo and the benchmark share it.
 *
 * Which bundle: `${ACTION_BUNDLE_DIR}/dist/index.js` when ACTION_BUNDLE_DIR is set (jest's global setup
 * bundles the working tree's sources there, so the tests see the current `src`), else the committed
 * `dist/` (what `npm run demo` and `npm run bench` run).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parse } from 'yaml'
import { GitHubSimulator } from './github.ts'
import { ThingSpaceSimulator, type ThingSpaceOptions } from './thingspace.ts'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** The directory holding the bundle's `dist/`: ACTION_BUNDLE_DIR (set by the tests' global setup) or the repository. */
export function bundleDir(): string {
  return process.env.ACTION_BUNDLE_DIR ? path.resolve(process.env.ACTION_BUNDLE_DIR) : ROOT
}

/** The action's entry point in that bundle. */
export function actionEntry(): string {
  return path.join(bundleDir(), 'dist/index.js')
}

/** The recovery tool in that bundle (`node <it> keygen | open CIPHERTEXT`). */
export function recoveryTool(): string {
  return path.join(bundleDir(), 'dist/recovery/index.js')
}

/** Node 24 from the `node` dev dependency when installed (the runtime action.yml declares), else this one. */
export const NODE = existsSync(path.join(ROOT, 'node_modules/node/bin/node')) ? path.join(ROOT, 'node_modules/node/bin/node') : process.execPath

export const FIXTURE = {
  githubToken: 'ghp_SimulatorToken0123456789abcdefABCDEF',
  repository: 'acme/fleet',
  environment: 'production',
  org: 'acme',
  runId: 4242,
  runnerName: 'GitHub Actions 2'
}

export interface Simulators {
  thingspace: ThingSpaceSimulator
  github: GitHubSimulator
  stop: () => Promise<void>
}

/**
 * Serving the simulators over https under host names: a certificate (see tls.ts) valid for both names.
 * They still listen on 127.0.0.1; a client reaches them through a proxy's host map (proxy.ts) or the
 * `resolve` run option.
 */
export interface ServeOptions {
  tls: { cert: string; key: string }
  hosts: { thingspace: string; github: string }
}

/** Both simulators on 127.0.0.1, with a repository (and its environment), an organization and a workflow run. */
export async function startSimulators(options: ThingSpaceOptions = {}, serve?: ServeOptions): Promise<Simulators> {
  const thingspace = new ThingSpaceSimulator(options)
  const github = await GitHubSimulator.create()
  github.addToken(FIXTURE.githubToken)
  github.addRepo(FIXTURE.repository, [FIXTURE.environment])
  github.addOrg(FIXTURE.org)
  github.addRun(FIXTURE.runId, new Date(Date.now() - 60_000))
  // This job, as the run's first attempt lists it: started now-ish on the runner the harness names.
  github.addJob(FIXTURE.runId, 1, { name: 'rotate', runnerName: FIXTURE.runnerName, startedAt: new Date(Date.now() - 30_000) })
  const tls = (host: string): { cert: string; key: string; host: string } | undefined => (serve ? { ...serve.tls, host } : undefined)
  await Promise.all([thingspace.start(0, tls(serve?.hosts.thingspace ?? '')), github.start(0, tls(serve?.hosts.github ?? ''))])
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
  /** The script to run instead of the bundle's dist/index.js. */
  entry?: string
  /**
   * Test only: host names the action's process resolves to these addresses (name -> IPv4), through
   * a preloaded dns.lookup wrapper (resolve-preload.ts), for names that are not in /etc/hosts.
   */
  resolve?: Record<string, string>
}

let declared: Record<string, string> | undefined

/** The `${{ github.* }}` contexts an input default may use, from the run's environment, as the runner evaluates them. */
const GITHUB_CONTEXT: Record<string, string> = {
  api_url: 'GITHUB_API_URL',
  server_url: 'GITHUB_SERVER_URL',
  graphql_url: 'GITHUB_GRAPHQL_URL',
  repository: 'GITHUB_REPOSITORY',
  repository_owner: 'GITHUB_REPOSITORY_OWNER',
  run_id: 'GITHUB_RUN_ID',
  run_attempt: 'GITHUB_RUN_ATTEMPT',
  event_name: 'GITHUB_EVENT_NAME',
  workflow: 'GITHUB_WORKFLOW',
  actor: 'GITHUB_ACTOR'
}

/**
 * The inputs action.yml declares, with their defaults ('' when none). An expression in a default
 * (`${{ github.api_url }}`) is evaluated from `env` the way the runner does; one the harness does not
 * know fails loudly rather than reaching the action as literal text.
 */
export function actionDefaults(env: Record<string, string | undefined> = process.env): Record<string, string> {
  if (!declared) {
    const action = parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as { inputs: Record<string, { default?: string | number | boolean }> }
    declared = Object.fromEntries(Object.entries(action.inputs).map(([name, spec]) => [name, spec.default === undefined ? '' : String(spec.default)]))
  }
  return Object.fromEntries(
    Object.entries(declared).map(([name, value]) => [
      name,
      value.replace(/\$\{\{\s*([^}]*?)\s*\}\}/g, (expression: string, inner: string) => {
        const match = /^github\.([a-z_]+)$/.exec(inner)
        const variable = match ? GITHUB_CONTEXT[match[1]] : undefined
        if (!variable) throw new Error(`actionDefaults: input "${name}" defaults to ${expression}, which the harness cannot evaluate`)
        return env[variable] ?? ''
      })
    ])
  )
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
  // What the runner sets for every step (GITHUB_EVENT_PATH is left out: no event payload file here).
  const runner: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_API_URL: sims.github.url,
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_GRAPHQL_URL: `${sims.github.url}/graphql`,
    GITHUB_REPOSITORY: FIXTURE.repository,
    GITHUB_REPOSITORY_OWNER: FIXTURE.repository.split('/')[0],
    GITHUB_RUN_ID: String(FIXTURE.runId),
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_EVENT_NAME: 'workflow_dispatch',
    GITHUB_WORKFLOW: 'Rotate ThingSpace password',
    GITHUB_ACTOR: 'octocat',
    GITHUB_TRIGGERING_ACTOR: 'octocat',
    GITHUB_JOB: 'rotate',
    RUNNER_NAME: FIXTURE.runnerName,
    GITHUB_OUTPUT: files.output,
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_STATE: files.state,
    GITHUB_ENV: files.env,
    RUNNER_TEMP: dir,
    ...options.env
  }
  const inputs = { ...actionDefaults(runner), ...standardInputs(sims), ...options.inputs }
  const env: Record<string, string> = {
    ...runner,
    ...Object.fromEntries(Object.entries(inputs).map(([name, value]) => [`INPUT_${name.replace(/ /g, '_').toUpperCase()}`, value])),
    ...options.env
  }
  if (options.resolve && Object.keys(options.resolve).length > 0) {
    env.SIM_RESOLVE = JSON.stringify(options.resolve)
    env.NODE_OPTIONS = [`--import=${pathToFileURL(path.join(ROOT, 'simulators/resolve-preload.ts')).href}`, env.NODE_OPTIONS]
      .filter(Boolean)
      .join(' ')
  }
  const spawnedAt = performance.timeOrigin + performance.now()
  const child = spawn(NODE, [options.entry ?? actionEntry()], { env, stdio: ['ignore', 'pipe', 'pipe'] })
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
