/**
 * `npm run bench`: the committed bundle against the simulators with 0 ms and 100 ms of latency per
 * request, for 1 and 20 targets, several runs each. Prints median wall time, sequential waves (from
 * the simulators' request logs), time to first request, peak RSS and bundle size, next to a bare
 * `node -e 0` and two references doing the same safe sequence: a minimal client, and the same client
 * with @actions/core, @actions/github and @octokit/rest loaded first, bundled with `ncc --minify` like
 * the action (the fastest an action on this stack can be). `--write` also records the figures in
 * BENCHMARKS.md. A benchmark, not a test: it asserts nothing and never runs in CI.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { FIXTURE, NODE, ROOT, runAction, startSimulators, type Simulators } from '../simulators/harness.ts'
import { countWaves } from '../simulators/server.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 7)
const toolkitDir = mkdtempSync(path.join(os.tmpdir(), 'toolkit-reference-'))
execFileSync(path.join(ROOT, 'node_modules/.bin/ncc'), [
  'build',
  path.join(ROOT, 'scripts/toolkit-reference.mjs'),
  '-o',
  toolkitDir,
  '--minify',
  '--quiet'
])
const TOOLKIT_REFERENCE = path.join(toolkitDir, 'index.mjs')
const PROBE = `--import=${path.join(ROOT, 'scripts/rss-probe.mjs')}`

interface Sample {
  wallMs: number
  waves: number
  firstRequestMs: number
  rssMiB: number
  limited: number
  result: string
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/** Twenty scopes: twelve repositories, five environments, three organizations. */
function twentyTargets(sims: Simulators): string {
  const lines = ['repo']
  for (let i = 1; i <= 11; i++) {
    sims.github.addRepo(`${FIXTURE.org}/service-${i}`)
    lines.push(`repo:${FIXTURE.org}/service-${i}`)
  }
  sims.github.addRepo(`${FIXTURE.org}/stages`, ['dev', 'test', 'qa', 'staging', 'prod'])
  for (const env of ['dev', 'test', 'qa', 'staging', 'prod']) lines.push(`env:${FIXTURE.org}/stages/${env}`)
  for (const org of [FIXTURE.org, 'acme-labs', 'acme-ops']) {
    if (org !== FIXTURE.org) sims.github.addOrg(org)
    lines.push(`org:${org}`)
  }
  return lines.join('\n')
}

async function sample(entry: string | undefined, targets: 1 | 20, latencyMs: number): Promise<Sample> {
  const sims = await startSimulators()
  try {
    sims.thingspace.latencyMs = latencyMs
    sims.github.latencyMs = latencyMs
    sims.github.limitConcurrentWrites(10)
    const inputs = { targets: targets === 1 ? 'repo' : twentyTargets(sims) }
    const run = await runAction(sims, { inputs, entry, env: { NODE_OPTIONS: PROBE } })
    const log = [...sims.thingspace.log, ...sims.github.log]
    const first = Math.min(...log.map((e) => e.start))
    const rss = /maxrss (\d+)/.exec(run.stderr)
    const stored = sims.github.secret(`repo:${FIXTURE.repository}`, 'THINGSPACE_PASSWORD')?.value === sims.thingspace.password
    return {
      wallMs: run.wallMs,
      waves: countWaves(log),
      firstRequestMs: first - run.spawnedAt,
      rssMiB: rss ? Number(rss[1]) / 1024 : NaN,
      limited: sims.github.limited,
      result: entry ? (run.code === 0 && stored ? 'rotated' : `failed (${run.code})`) : (run.outputs.result ?? `exit ${run.code}`)
    }
  } finally {
    await sims.stop()
  }
}

async function bareNode(): Promise<number> {
  const start = performance.now()
  await new Promise((resolve) => spawn(NODE, ['-e', '0'], { stdio: 'ignore' }).on('close', resolve))
  return performance.now() - start
}

function fileKiB(file: string): number {
  return statSync(path.join(ROOT, file)).size / 1024
}

const rows: string[] = []
const row = (...cells: (string | number)[]): void => {
  rows.push(`| ${cells.join(' | ')} |`)
}
const ms = (x: number): string => `${x.toFixed(0)} ms`

const bare: number[] = []
for (let i = 0; i < RUNS; i++) bare.push(await bareNode())
const bareMs = median(bare)

const wallAt: Record<string, number> = {}
const firstAt0: number[] = []
row('client', 'targets', 'latency', 'median wall', 'waves', 'to first request', 'peak RSS', 'rate-limited', 'result')
row('---', '---', '---', '---', '---', '---', '---', '---', '---')
for (const latency of [0, 100]) {
  for (const [client, entry] of [
    ['action', undefined],
    ['reference', path.join(ROOT, 'scripts/reference-client.mjs')],
    ['toolkit reference', TOOLKIT_REFERENCE]
  ] as const) {
    for (const targets of [1, 20] as const) {
      if (client !== 'action' && targets === 20) continue
      const samples: Sample[] = []
      for (let i = 0; i < (targets === 20 ? Math.max(3, Math.ceil(RUNS / 2)) : RUNS); i++) samples.push(await sample(entry, targets, latency))
      const wall = median(samples.map((s) => s.wallMs))
      if (targets === 1) wallAt[`${client} ${latency}`] = wall
      if (latency === 0 && targets === 1 && client === 'action') firstAt0.push(...samples.map((s) => s.firstRequestMs))
      const results = [...new Set(samples.map((s) => s.result))].join(', ')
      row(
        client,
        targets,
        ms(latency),
        ms(wall),
        `${median(samples.map((s) => s.waves))} (${Math.min(...samples.map((s) => s.waves))}–${Math.max(...samples.map((s) => s.waves))})`,
        ms(median(samples.map((s) => s.firstRequestMs))),
        `${median(samples.map((s) => s.rssMiB)).toFixed(1)} MiB`,
        samples.reduce((n, s) => n + s.limited, 0),
        results
      )
      process.stderr.write(`${client} ${targets} target(s) at ${latency} ms: median ${ms(wall)}\n`)
    }
  }
}

// Peak RSS by number of targets (repositories, 0 ms latency): it should flatten once the bounded
// request concurrency is reached, since a target's own data is a few hundred bytes.
const rssByTargets: string[] = []
for (const n of [1, 5, 10, 20, 40]) {
  const peaks: number[] = []
  for (let i = 0; i < 3; i++) {
    const sims = await startSimulators()
    try {
      const lines = ['repo']
      for (let k = 1; k < n; k++) {
        sims.github.addRepo(`${FIXTURE.org}/svc-${k}`)
        lines.push(`repo:${FIXTURE.org}/svc-${k}`)
      }
      const run = await runAction(sims, { inputs: { targets: lines.join('\n') }, env: { NODE_OPTIONS: PROBE } })
      peaks.push(Number(/maxrss (\d+)/.exec(run.stderr)?.[1] ?? NaN) / 1024)
    } finally {
      await sims.stop()
    }
  }
  rssByTargets.push(`${n}: ${median(peaks).toFixed(1)} MiB`)
}

const chunks = readdirSync(path.join(ROOT, 'dist')).filter((f) => f.endsWith('.js'))
const startup = median(firstAt0) - bareMs
const ratio = (client: string, latency: number): string => {
  const [a, b] = [wallAt[`action ${latency}`], wallAt[`${client} ${latency}`]]
  return `**${(a / b).toFixed(2)}** (${ms(a)} / ${ms(b)})`
}
const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}, Node ${execVersion()}`
const report = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}; ${RUNS} runs per 1-target row, ${Math.max(3, Math.ceil(RUNS / 2))} per 20-target row.`,
  '',
  ...rows,
  '',
  `- Bare \`node -e 0\`: median ${ms(bareMs)}. Start-up overhead (median time to first request at 0 ms latency, minus bare node): **${ms(startup)}**.`,
  `- Action / toolkit reference wall time, 1 target: at 100 ms latency ${ratio('toolkit reference', 100)}, at 0 ms ${ratio('toolkit reference', 0)}.`,
  `- Action / minimal reference wall time, 1 target: at 100 ms latency ${ratio('reference', 100)}, at 0 ms ${ratio('reference', 0)}.`,
  `- Bundle: ${chunks.map((f) => `\`dist/${f}\` ${fileKiB(`dist/${f}`).toFixed(0)} KiB`).join(', ')} (libsodium is the lazily loaded chunk).`,
  `- Peak RSS by number of targets (median of 3): ${rssByTargets.join(', ')}.`,
  `- "rate-limited": writes the GitHub simulator turned away with a secondary rate limit (it allows 10 concurrent secret writes; the action makes them one at a time).`,
  `- Runs are started as \`workflow_dispatch\`. A run on any other event (a schedule) also writes the lockout marker before its login and removes it after: two more requests, two more waves. With 20 targets the 40 secret writes go one at a time (GitHub's guidance for content-creating requests), which is most of that row's waves.`
].join('\n')

function execVersion(): string {
  return process.version
}

console.log(`\n${report}\n`)
if (process.argv.includes('--write')) {
  writeFileSync(
    path.join(ROOT, 'BENCHMARKS.md'),
    `# Benchmarks\n\nThe latest figures from \`npm run bench -- --write\` (see \`scripts/bench.ts\`). Waves are sequential rounds of requests, counted from the simulators' request logs; the references are \`scripts/reference-client.mjs\`, a minimal script doing the same safe sequence, and \`scripts/toolkit-reference.mjs\`, the same script with @actions/core, @actions/github and @octokit/rest loaded first and bundled with ncc like the action. At 0 ms latency a "wave" is any gap in the request log, so only the 100 ms rows count round trips. Start-up is timed with the RSS probe preloaded (\`scripts/rss-probe.mjs\`), in both clients.\n\n${report}\n`
  )
  console.log('Wrote BENCHMARKS.md')
}
