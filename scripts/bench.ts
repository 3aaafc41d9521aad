/**
 * `npm run bench`: the action's bundle against the simulators with 0 ms and 100 ms of latency per
 * request: a scheduled run (the common case: `schedule`, min-age-days 80 as in the README, every
 * target holding a password stored 91 days ago) beside a dispatched one (`workflow_dispatch`,
 * min-age-days 0), next to a bare `node -e 0` and the references doing the same safe sequence: a
 * minimal client (scripts/reference-client.mjs), and the same client with the stack loaded first,
 * bundled with `ncc --minify` like the action (scripts/toolkit-reference.mjs), its requests sent with
 * plain fetch (the yardstick of issue 16) and, in a row of its own, through the stack's clients
 * (Octokit with the retry and throttling plugins, @actions/http-client), as an action on this stack
 * must send them. It prints median wall times with their spread, sequential waves (from the
 * simulators' request logs), where the scheduled run's time goes beyond the references', the window
 * from the reset to the last store of the password secret for 1, 5 and 20 targets, and how loaded the
 * machine was. Configurations take turns, run by run, so a change in load touches all alike.
 *
 * Which bundle: `--src` bundles the working tree's sources as the tests do (jest's global setup);
 * otherwise ACTION_BUNDLE_DIR when set, else the committed dist/. `--write` records the figures in
 * BENCHMARKS.md; BENCH_RUNS sets the runs per configuration (7). A benchmark, not a test: it asserts
 * nothing and never runs in CI.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import globalSetup from '../__tests__/support/global-setup.ts'
import globalTeardown from '../__tests__/support/global-teardown.ts'
import { FIXTURE, NODE, ROOT, actionDefaults, bundleDir, runAction, startSimulators, type Simulators } from '../simulators/harness.ts'
import { countWaves, type LogEntry } from '../simulators/server.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 7)
const SECRET = actionDefaults({})['secret-name']
const PROBE = `--import=${path.join(ROOT, 'scripts/rss-probe.mjs')}`
const DAY_MS = 24 * 60 * 60 * 1000

type Client = 'action' | 'reference' | 'toolkit reference' | 'toolkit reference, stack clients'
type Event = 'schedule' | 'workflow_dispatch'

interface Config {
  client: Client
  event: Event
  targets: number
  latencyMs: number
}

interface Sample {
  wallMs: number
  waves: number
  /** From spawn to the first request's arrival. */
  firstRequestMs: number
  /** From the first request to the last answer: some request in flight, and none (the client at work between an answer and its next request). */
  inFlightMs: number
  betweenMs: number
  /** From the last answer to the process's exit. */
  tailMs: number
  cpuMs: number
  rssMiB: number
  /** From the reset's start to the end of the last successful store of the password secret, and the waves that started in it. */
  windowMs: number
  windowWaves: number
  limited: number
  result: string
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const ms = (x: number): string => `${Math.round(x) || 0} ms` // never "-0 ms"
const label = (c: Config): string => (c.client === 'action' ? `action (${c.event === 'schedule' ? 'schedule' : 'dispatch'})` : c.client)
const key = (c: Config): string => `${label(c)} ${c.targets} ${c.latencyMs}`

/**
 * `n` targets: this repository first (the home target), then repositories, environments and
 * organizations in turn, each holding the password secret as the last rotation left it, 91 days ago.
 */
function targets(sims: Simulators, n: number): string[] {
  const lines = ['repo']
  for (let k = 1; k < n; k++) {
    const kind = ['repo', 'repo', 'env', 'org'][k % 4]
    if (kind === 'repo') sims.github.addRepo(`${FIXTURE.org}/service-${k}`)
    if (kind === 'env') sims.github.addRepo(`${FIXTURE.org}/stage-${k}`, ['prod'])
    if (kind === 'org') sims.github.addOrg(`${FIXTURE.org}-${k}`)
    lines.push({ repo: `repo:${FIXTURE.org}/service-${k}`, env: `env:${FIXTURE.org}/stage-${k}/prod`, org: `org:${FIXTURE.org}-${k}` }[kind]!)
  }
  const stored = new Date(Date.now() - 91 * DAY_MS)
  for (const line of lines) {
    const scope = line === 'repo' ? `repo:${FIXTURE.repository}` : line
    sims.github.seed(scope, SECRET, sims.thingspace.password, stored, scope.startsWith('org:') ? { visibility: 'private' } : {})
  }
  return lines
}

/** Milliseconds within [first start, last end] that no request was in flight. */
function idleWithin(log: LogEntry[]): number {
  const sorted = [...log].sort((a, b) => a.start - b.start)
  let idle = 0
  let reach = sorted[0].end
  for (const e of sorted.slice(1)) {
    if (e.start > reach) idle += e.start - reach
    reach = Math.max(reach, e.end)
  }
  return idle
}

async function sample(c: Config, client: { entry?: string; env?: Record<string, string> }): Promise<Sample> {
  const sims = await startSimulators()
  try {
    sims.thingspace.latencyMs = c.latencyMs
    sims.github.latencyMs = c.latencyMs
    sims.github.limitConcurrentWrites(10)
    const lines = targets(sims, c.targets)
    const inputs = { targets: lines.join('\n'), 'min-age-days': c.event === 'schedule' ? '80' : '0' }
    const run = await runAction(sims, { inputs, entry: client.entry, env: { NODE_OPTIONS: PROBE, GITHUB_EVENT_NAME: c.event, ...client.env } })
    const log = [...sims.thingspace.log, ...sims.github.log]
    const first = Math.min(...log.map((e) => e.start))
    const last = Math.max(...log.map((e) => e.end))
    const probe = /maxrss (\d+) user (\d+) system (\d+)/.exec(run.stderr)
    const reset = sims.thingspace.calls('reset')[0]
    const stores = sims.github
      .calls('put-secret')
      .filter((e) => e.path.endsWith(`/secrets/${SECRET}`) && typeof e.status === 'number' && e.status >= 200 && e.status < 300)
    const holders = lines.filter(
      (l) => sims.github.secret(l === 'repo' ? `repo:${FIXTURE.repository}` : l, SECRET)?.value === sims.thingspace.password
    )
    const result = c.client === 'action' ? (run.outputs.result ?? `exit ${run.code}`) : run.code === 0 ? 'rotated' : `failed (exit ${run.code})`
    const idle = idleWithin(log)
    const windowEnd = Math.max(...stores.map((e) => e.end))
    return {
      wallMs: run.wallMs,
      waves: countWaves(log),
      firstRequestMs: first - run.spawnedAt,
      inFlightMs: last - first - idle,
      betweenMs: idle,
      tailMs: run.spawnedAt + run.wallMs - last,
      cpuMs: probe ? (Number(probe[2]) + Number(probe[3])) / 1000 : NaN,
      rssMiB: probe ? Number(probe[1]) / 1024 : NaN,
      windowMs: reset && stores.length > 0 ? windowEnd - reset.start : NaN,
      windowWaves: reset && stores.length > 0 ? countWaves(log.filter((e) => e.start >= reset.start && e.start < windowEnd)) : NaN,
      limited: sims.github.limited,
      result: holders.length === lines.length ? result : `${result}, ${holders.length} of ${lines.length} targets hold the live password`
    }
  } finally {
    await sims.stop()
  }
}

/**
 * Alternating usernames (issue 19), `n` targets at 100 ms a request, usernames in Actions variables: in
 * each target the username is written first and the password once it landed, so a job that reads
 * both between the two writes gets a mismatched pair. Returns, per target, how long that lasted (from
 * the username write's answer to the password write's), and the run's result.
 */
async function mismatchWindow(n: number): Promise<{ windowsMs: number[]; result: string }> {
  const [first, second] = ['m2m-api-user', 'm2m-api-user-b']
  const sims = await startSimulators({ users: { [second]: 'Standby-Passw0rd' } })
  try {
    sims.thingspace.latencyMs = 100
    sims.github.latencyMs = 100
    const lines = targets(sims, n)
    const scopes = lines.map((l) => (l === 'repo' ? `repo:${FIXTURE.repository}` : l))
    const stored = new Date(Date.now() - 91 * DAY_MS)
    // The steady state: every target names the active username, written with its password by the last rotation.
    for (const scope of scopes) sims.github.seedVariable(scope, 'THINGSPACE_USERNAME', first, stored)
    sims.github.seed(`repo:${FIXTURE.repository}`, `${SECRET}_STANDBY`, 'Standby-Passw0rd', stored)
    sims.github.seedVariable(`repo:${FIXTURE.repository}`, 'THINGSPACE_USERNAME_STANDBY', second, stored)
    const inputs = {
      targets: lines.join('\n'),
      'min-age-days': '80',
      'standby-username': second,
      'standby-password': 'Standby-Passw0rd',
      'username-kind': 'variable'
    }
    const run = await runAction(sims, { inputs, env: { GITHUB_EVENT_NAME: 'schedule' } })
    const windowsMs = scopes.map((scope) => {
      const name = sims.github.log.find((e) => e.scope === scope && e.call === 'update-variable' && e.path.endsWith('/THINGSPACE_USERNAME'))
      const password = sims.github.calls('put-secret', scope).find((e) => e.path.endsWith(`/secrets/${SECRET}`))
      return name && password ? password.end - name.end : NaN
    })
    if (windowsMs.some((w) => Number.isNaN(w)))
      throw new Error(`alternating run on ${n} targets: a username or password write is missing (${run.outputs.result})`)
    return { windowsMs, result: run.outputs.result ?? `exit ${run.code}` }
  } finally {
    await sims.stop()
  }
}

async function bareNode(): Promise<number> {
  const start = performance.now()
  await new Promise((resolve) => spawn(NODE, ['-e', '0'], { stdio: 'ignore' }).on('close', resolve))
  return performance.now() - start
}

/** Packages the toolkit reference's bundle holds more than once (from ncc's stats), with each copy's version. */
function duplicatedPackages(statsFile: string): string[] {
  const stats = JSON.parse(readFileSync(statsFile, 'utf8')) as { modules: { name: string; chunks: unknown[]; modules?: { name: string }[] }[] }
  const copies = new Map<string, Set<string>>()
  for (const m of stats.modules.filter((m) => m.chunks.length > 0).flatMap((m) => m.modules ?? [m])) {
    const match = /^(.*node_modules\/)((?:@[^/]+\/)?[^/]+)\//.exec(m.name)
    if (!match) continue
    const dir = path.resolve(ROOT, match[1], match[2])
    copies.set(match[2], (copies.get(match[2]) ?? new Set()).add(dir))
  }
  const version = (dir: string): string => (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version
  // node_modules may be a symlink (a worktree's); the stats name real paths.
  const project = path.dirname(realpathSync(path.join(ROOT, 'node_modules')))
  return [...copies]
    .filter(([, dirs]) => dirs.size > 1)
    .map(([name, dirs]) => `${name} (${[...dirs].map((d) => `${version(d)} at ${path.relative(project, d)}`).join(', ')})`)
}

/** Which bundle ran: the working tree's sources (with the commit that last changed them), another directory, or the committed dist/. */
function bundleName(): string {
  if (!process.argv.includes('--src')) return path.relative(ROOT, bundleDir()) ? bundleDir() : 'the committed dist/'
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: ROOT }).toString().trim()
  const dirty = git('status', '--porcelain', '--', 'src') ? ', with uncommitted changes' : ''
  return `src as of ${git('log', '-1', '--format=%h', '--', 'src')}${dirty}, built as the tests build it`
}

function chunkSizes(dir: string): string {
  return readdirSync(dir)
    .filter((f) => /\.m?js$/.test(f))
    .map((f) => `${f} ${(statSync(path.join(dir, f)).size / 1024).toFixed(0)} KiB`)
    .join(', ')
}

const load = (): string => os.loadavg()[0].toFixed(1)
const loadAtStart = load()
const scratch = mkdtempSync(path.join(os.tmpdir(), 'bench-'))
if (process.argv.includes('--src')) await globalSetup()
try {
  // The toolkit reference, bundled like the action, where no node_modules can be reached: libsodium is in the bundle.
  const toolkitDir = path.join(scratch, 'toolkit-reference')
  const stats = path.join(scratch, 'toolkit-stats.json')
  const ncc = path.join(ROOT, 'node_modules/.bin/ncc')
  execFileSync(ncc, ['build', 'scripts/toolkit-reference.mjs', '-o', toolkitDir, '--minify', '--quiet', '--stats-out', stats], { cwd: ROOT })
  const clients: Record<Client, { entry?: string; env?: Record<string, string> }> = {
    action: {},
    reference: { entry: path.join(ROOT, 'scripts/reference-client.mjs') },
    'toolkit reference': { entry: path.join(toolkitDir, 'index.mjs') },
    'toolkit reference, stack clients': { entry: path.join(toolkitDir, 'index.mjs'), env: { REFERENCE_TRANSPORT: 'stack' } }
  }

  const configs: Config[] = []
  for (const latencyMs of [0, 100]) {
    configs.push(
      { client: 'action', event: 'schedule', targets: 1, latencyMs },
      { client: 'action', event: 'workflow_dispatch', targets: 1, latencyMs },
      { client: 'reference', event: 'schedule', targets: 1, latencyMs },
      { client: 'toolkit reference', event: 'schedule', targets: 1, latencyMs },
      { client: 'toolkit reference, stack clients', event: 'schedule', targets: 1, latencyMs },
      ...(latencyMs === 100 ? [{ client: 'action', event: 'schedule', targets: 5, latencyMs } as const] : []),
      { client: 'action', event: 'schedule', targets: 20, latencyMs }
    )
  }
  const bare: number[] = []
  const samples = new Map<string, Sample[]>(configs.map((c) => [key(c), []]))
  for (let i = 0; i < RUNS; i++) {
    bare.push(await bareNode())
    for (const c of configs) samples.get(key(c))!.push(await sample(c, clients[c.client]))
    process.stderr.write(`run ${i + 1} of ${RUNS} done (load ${load()})\n`)
  }
  const loadAtEnd = load()

  const of = (c: Config, field: keyof Omit<Sample, 'result'>): number => median(samples.get(key(c))!.map((s) => s[field]))
  const find = (client: Client, event: Event, targets: number, latencyMs: number): Config => ({ client, event, targets, latencyMs })
  const rows = [
    '| client | targets | latency | median wall (min–max) | waves | to first request | between requests | CPU | peak RSS | writes turned away | result |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |'
  ]
  for (const c of configs) {
    const list = samples.get(key(c))!
    const walls = list.map((s) => s.wallMs)
    const waves = list.map((s) => s.waves)
    rows.push(
      `| ${[
        label(c),
        c.targets,
        ms(c.latencyMs),
        `${ms(median(walls))} (${Math.min(...walls).toFixed(0)}–${Math.max(...walls).toFixed(0)})`,
        `${median(waves)} (${Math.min(...waves)}–${Math.max(...waves)})`,
        ms(of(c, 'firstRequestMs')),
        ms(of(c, 'betweenMs')),
        ms(of(c, 'cpuMs')),
        `${of(c, 'rssMiB').toFixed(1)} MiB`,
        list.reduce((n, s) => n + s.limited, 0),
        [...new Set(list.map((s) => s.result))].join(', ')
      ].join(' | ')} |`
    )
  }

  const ratio = (a: Config, b: Config): string =>
    `**${(of(a, 'wallMs') / of(b, 'wallMs')).toFixed(2)}** (${ms(of(a, 'wallMs'))} / ${ms(of(b, 'wallMs'))})`
  const versus = (event: Event, against: Client): string =>
    [100, 0].map((l) => `at ${l} ms ${ratio(find('action', event, 1, l), find(against, 'schedule', 1, l))}`).join(', ')

  // Where the scheduled run's time goes beyond the toolkit references': the phases of a run, medians.
  const phases: [string, keyof Omit<Sample, 'result'>][] = [
    ['start-up: spawn to first request', 'firstRequestMs'],
    ['requests in flight (the waves)', 'inFlightMs'],
    ['between an answer and the next request', 'betweenMs'],
    ['last answer to exit', 'tailMs'],
    ['wall', 'wallMs'],
    ['CPU (user + system)', 'cpuMs']
  ]
  const profile = [
    '| phase (median) | latency | scheduled run | toolkit reference | beyond it | toolkit reference, stack clients | beyond it |',
    '| --- | --- | --- | --- | --- | --- | --- |'
  ]
  for (const l of [100, 0]) {
    const [a, b, c] = [
      find('action', 'schedule', 1, l),
      find('toolkit reference', 'schedule', 1, l),
      find('toolkit reference, stack clients', 'schedule', 1, l)
    ]
    const cells = (field: keyof Omit<Sample, 'result'>, unit: (x: number) => string): string => {
      const [va, vb, vc] = [a, b, c].map((x) => of(x, field))
      return [unit(va), unit(vb), unit(va - vb), unit(vc), unit(va - vc)].join(' | ')
    }
    for (const [name, field] of phases) profile.push(`| ${name} | ${l} ms | ${cells(field, ms)} |`)
    profile.push(`| waves | ${l} ms | ${cells('waves', String)} |`)
  }

  const window = [1, 5, 20].map((n) => {
    const list = samples.get(key(find('action', 'schedule', n, 100)))!
    const times = list.map((s) => s.windowMs)
    const turned = list.reduce((t, s) => t + s.limited, 0)
    return `${n} target${n > 1 ? 's' : ''}: **${ms(median(times))}** (${Math.min(...times).toFixed(0)}–${Math.max(...times).toFixed(0)}), ${median(list.map((s) => s.windowWaves))} waves, ${turned} writes turned away`
  })

  // Alternating usernames: the window in which a target names the new username with the old password.
  const mismatch: string[] = []
  for (const n of [1, 5, 20]) {
    const all: number[] = []
    const results = new Set<string>()
    for (let i = 0; i < Math.min(RUNS, 3); i++) {
      const { windowsMs, result } = await mismatchWindow(n)
      all.push(...windowsMs)
      results.add(result)
    }
    mismatch.push(`${n} target${n > 1 ? 's' : ''}: median ${ms(median(all))}, longest ${ms(Math.max(...all))} (${[...results].join(', ')})`)
  }

  const cpu = os.cpus()
  const machine = `${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}, Node ${execFileSync(NODE, ['--version']).toString().trim()}`
  const duplicates = duplicatedPackages(stats)
  const report = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}, shared with other work: load average (1 min) ${loadAtStart} at the start, ${loadAtEnd} at the end. ${RUNS} runs per row, the rows taking turns; bundle: ${bundleName()}.`,
    '',
    ...rows,
    '',
    `- Scheduled run / toolkit reference, median wall, 1 target: ${versus('schedule', 'toolkit reference')}. The target (issue 16): at most 1.10 at both.`,
    `- Scheduled run / toolkit reference with the stack's clients: ${versus('schedule', 'toolkit reference, stack clients')}. Toolkit reference with the stack's clients / toolkit reference: ${[100, 0].map((l) => `at ${l} ms ${ratio(find('toolkit reference, stack clients', 'schedule', 1, l), find('toolkit reference', 'schedule', 1, l))}`).join(', ')}.`,
    `- Dispatched run / toolkit reference: ${versus('workflow_dispatch', 'toolkit reference')}. Scheduled run / minimal reference: ${versus('schedule', 'reference')}.`,
    `- From the reset to the last store of the password secret (scheduled, 100 ms per request, GitHub allowing 10 concurrent secret writes): ${window.join('; ')}.`,
    `- Alternating usernames, 100 ms per request: a target names the new username with the old password from the username write's answer to the password write's: ${mismatch.join('; ')}.`,
    `- Bare \`node -e 0\`: median ${ms(median(bare))}.`,
    `- Bundles: the action's ${chunkSizes(path.join(bundleDir(), 'dist'))}; the toolkit reference's ${chunkSizes(toolkitDir)} (libsodium is the lazily loaded chunk of about 425 KiB in both).`,
    `- Packages the stack bundles more than once (ncc's stats of the toolkit reference; the action bundles the same stack): ${duplicates.length > 0 ? duplicates.join('; ') : 'none'}.`,
    '',
    'Where the scheduled run spends its time beyond the toolkit references (1 target):',
    '',
    ...profile
  ].join('\n')

  console.log(`\n${report}\n`)
  if (process.argv.includes('--write')) {
    const intro = readFileSync(path.join(ROOT, 'BENCHMARKS.md'), 'utf8').split('\n<!-- figures -->\n')[0]
    writeFileSync(path.join(ROOT, 'BENCHMARKS.md'), `${intro}\n<!-- figures -->\n\n${report}\n`)
    console.log('Wrote BENCHMARKS.md')
  }
} finally {
  rmSync(scratch, { recursive: true, force: true })
  globalTeardown()
}
