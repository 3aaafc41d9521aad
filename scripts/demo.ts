/**
 * `npm run demo`: the bundled action against the simulators, shown as a workflow would show it.
 * First a quarterly rotation into a repository, an environment, an organization and a Dependabot secret; then the
 * same workflow on a frequent cron, where min-age-days makes it a no-op; then a rotation in which one
 * target refuses the new password, escrowed to a recovery key and opened with the recovery tool.
 */
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { FIXTURE, NODE, ROOT, runAction, startSimulators, type ActionRun, type Simulators } from '../simulators/harness.ts'
import { renderLikeRunner } from '../simulators/runner-log.ts'

const DAY = 24 * 60 * 60 * 1000
const TARGETS = ['repo', `env:${FIXTURE.environment}`, `org:${FIXTURE.org}`, 'dependabot:repo']
const SCOPES = [
  `repo:${FIXTURE.repository}`,
  `env:${FIXTURE.repository}/${FIXTURE.environment}`,
  `org:${FIXTURE.org}`,
  `dependabot:repo:${FIXTURE.repository}`
]

function show(title: string, run: ActionRun): void {
  const rule = '─'.repeat(78)
  console.log(`\n${rule}\n${title}\n${rule}`)
  console.log(renderLikeRunner(run.stdout + run.stderr).trimEnd())
  console.log(`\n[exit code ${run.code}]  outputs: ${JSON.stringify(run.outputs)}`)
  console.log(`\n── job summary ──\n${run.summary.trimEnd()}`)
}

function check(sims: Simulators): void {
  console.log('\n── what the simulators hold now ──')
  for (const scope of SCOPES) {
    const held = sims.github.secret(scope, 'THINGSPACE_PASSWORD')
    const state = held?.value === sims.thingspace.password ? 'decrypts to the live ThingSpace password' : 'does NOT hold the live password'
    console.log(
      `  ${scope.padEnd(28)} ${state}${held?.visibility ? ` (visibility ${held.visibility}${held.selected ? `, ${held.selected.length} selected repositories` : ''})` : ''}`
    )
  }
  const ts = sims.thingspace
  console.log(
    `  ThingSpace: ${ts.calls('login').length} logins, ${ts.calls('reset').length} reset, ${ts.openSessions} sessions left open, lockout counter ${ts.consecutiveFailures}`
  )
}

const sims = await startSimulators()
try {
  // An org secret rotated by hand 120 days ago, visible to two selected repositories.
  sims.github.seed(`org:${FIXTURE.org}`, 'THINGSPACE_PASSWORD', sims.thingspace.password, new Date(Date.now() - 120 * DAY), {
    visibility: 'selected',
    selected: [1000, 1001]
  })
  const inputs = { targets: TARGETS.join('\n'), 'min-age-days': '80' }

  const first = await runAction(sims, { inputs })
  show(`Run 1: scheduled rotation (targets: ${TARGETS.join(', ')}; min-age-days: 80)`, first)
  check(sims)

  // A later run reads the rotated secret, as the next workflow run would.
  const second = await runAction(sims, { inputs: { ...inputs, password: sims.thingspace.password } })
  show('Run 2: the same workflow again, minutes later', second)
  check(sims)

  // The environment's write access is revoked between the proof and the store.
  const tool = path.join(ROOT, 'dist/recovery/index.js')
  const keys = execFileSync(NODE, [tool, 'keygen'], { encoding: 'utf8' })
  const publicKey = /recovery-public-key:\s+(\S+)/.exec(keys)![1]
  const privateKey = /RECOVERY_PRIVATE_KEY:\s+(\S+)/.exec(keys)![1]
  sims.github.addRun(4243, new Date()) // a new workflow run, started by hand
  sims.github.inject({
    call: 'put-secret',
    scope: SCOPES[1],
    attempts: [2],
    status: 403,
    body: { message: 'Resource not accessible by integration' }
  })
  const third = await runAction(sims, {
    inputs: { ...inputs, password: sims.thingspace.password, 'min-age-days': '0', 'recovery-public-key': publicKey },
    env: { GITHUB_RUN_ID: '4243' }
  })
  show('Run 3: a manual rotation while the environment target has lost write access (with recovery-public-key)', third)
  check(sims)
  const opened = execFileSync(NODE, [tool, 'open', third.outputs['recovery-ciphertext'] ?? ''], {
    encoding: 'utf8',
    env: { ...process.env, RECOVERY_PRIVATE_KEY: privateKey }
  }).trimEnd()
  console.log(
    `\n── recovery ──\n  node dist/recovery/index.js open <recovery-ciphertext> → ${opened === sims.thingspace.password ? 'the live ThingSpace password (not shown)' : 'NOT the live password'}`
  )

  process.exitCode =
    first.outputs.result === 'rotated' &&
    second.outputs.result === 'not-due' &&
    third.outputs.result === 'failed-changed' &&
    opened === sims.thingspace.password
      ? 0
      : 1
} finally {
  await sims.stop()
}
