/**
 * `npm run demo`: the bundled action against the simulators, shown as a workflow would show it: the log as
 * the runner renders it and each job summary as a person reads it.
 * First a quarterly rotation into a repository, an environment, an organization and a Dependabot secret; then the
 * same workflow on a frequent cron, where min-age-days makes it a no-op; then a rotation in which one
 * target refuses the new password, escrowed to a throwaway recovery key. The key and the ciphertext stay in
 * a temporary directory, with the command that opens one with the other, to practise on. Last, alternating
 * usernames: the rotation resets the standby username, and a consumer's copy of the old pair still logs in.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { FIXTURE, NODE, recoveryTool, runAction, startSimulators, type ActionRun, type Simulators } from '../simulators/harness.ts'
import { renderLikeRunner } from '../simulators/runner-log.ts'

const DAY = 24 * 60 * 60 * 1000
const TARGETS = ['repo', `env:${FIXTURE.environment}`, `org:${FIXTURE.org}`, 'dependabot:repo']
const SCOPES = [
  `repo:${FIXTURE.repository}`,
  `env:${FIXTURE.repository}/${FIXTURE.environment}`,
  `org:${FIXTURE.org}`,
  `dependabot:repo:${FIXTURE.repository}`
]

/** A line of prose wrapped at 100 columns, as a browser would wrap it in a narrow window. */
function wrap(line: string): string {
  const lines: string[] = []
  let current = ''
  for (const word of line.split(' ')) {
    if (current && current.length + word.length + 1 > 100) {
      lines.push(current)
      current = word
    } else current = current ? `${current} ${word}` : word
  }
  return [...lines, current].join('\n')
}

/** The job summary's HTML (what @actions/core's summary writes) as the rendered page reads: headings, text, a table, code. */
export function summaryAsText(html: string): string {
  const entities = (text: string): string =>
    text
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&amp;/g, '&')
  const inline = (text: string): string => entities(text.replace(/<br>/g, '\n').replace(/<[^>]+>/g, ''))
  const blocks: string[] = []
  for (const [, tag, body] of html.matchAll(/<(h[1-6]|p|table|pre)\b[^>]*>([\s\S]*?)<\/\1>/g)) {
    if (tag.startsWith('h')) blocks.push(`${'#'.repeat(Number(tag[1]))} ${inline(body)}`)
    else if (tag === 'p') blocks.push(inline(body).split('\n').map(wrap).join('\n'))
    else if (tag === 'pre') blocks.push(inline(body).replace(/^/gm, '    '))
    else {
      const rows = [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map(([, row]) =>
        [...row.matchAll(/<t[hd]>([\s\S]*?)<\/t[hd]>/g)].map(([, c]) => inline(c))
      )
      const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0)))
      blocks.push(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('   ')).join('\n'))
    }
  }
  return blocks.join('\n\n')
}

function show(title: string, run: ActionRun): void {
  const rule = '─'.repeat(78)
  console.log(`\n${rule}\n${title}\n${rule}`)
  console.log(renderLikeRunner(run.stdout + run.stderr).trimEnd())
  console.log(`\n[exit code ${run.code}]  outputs: ${JSON.stringify(run.outputs)}`)
  console.log(`\n── job summary ──\n${summaryAsText(run.summary)}`)
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

  // A throwaway recovery key, kept in a file as the README tells a person to keep theirs.
  const tool = recoveryTool()
  const keep = mkdtempSync(path.join(tmpdir(), 'thingspace-demo-'))
  const keyFile = path.join(keep, 'recovery.key')
  const keys = execFileSync(NODE, [tool, 'keygen', '--key-file', keyFile], { encoding: 'utf8' })
  const publicKey = /recovery-public-key:\s+(\S+)/.exec(keys)![1]
  // The environment's write access is revoked between the proof and the store.
  sims.github.age(60 * 60 * 1000) // an hour later (the simulator's secrets age), a new workflow run started by hand
  sims.github.addRun(4243, new Date())
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
  // The ciphertext as a person saves it from the summary (an editor adds the newline), opened from the key file.
  const ciphertextFile = path.join(keep, 'ciphertext.txt')
  writeFileSync(ciphertextFile, `${third.outputs['recovery-ciphertext'] ?? ''}\n`)
  const opened = execFileSync(NODE, [tool, 'open', '--key-file', keyFile], { input: readFileSync(ciphertextFile), encoding: 'utf8' }).trimEnd()
  console.log(
    `\n── recovery ──\n  node ${path.relative(process.cwd(), tool)} open --key-file ${keyFile} < ${ciphertextFile}\n` +
      `  → ${opened === sims.thingspace.password ? 'the live ThingSpace password (not shown here)' : 'NOT the live password'}\n` +
      `  The throwaway key and the ciphertext stay in ${keep}: run that command to practise, then delete the directory.`
  )

  const alternating = await alternatingRun()

  process.exitCode =
    first.outputs.result === 'rotated' &&
    second.outputs.result === 'not-due' &&
    third.outputs.result === 'failed-changed' &&
    opened === sims.thingspace.password &&
    alternating
      ? 0
      : 1
} finally {
  await sims.stop()
}

/** A consumer's login, as any ThingSpace client makes it: the OAuth token, then the login. */
async function consumerLogsIn(alt: Simulators, username: string, password: string): Promise<boolean> {
  const basic = Buffer.from(`${alt.thingspace.appKey}:${alt.thingspace.appSecret}`).toString('base64')
  const token = await fetch(`${alt.thingspace.url}/api/ts/v1/oauth2/token`, {
    method: 'POST',
    headers: { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials'
  }).then((r) => r.json() as Promise<{ access_token: string }>)
  const login = await fetch(`${alt.thingspace.url}/api/m2m/v1/session/login`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token.access_token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password })
  })
  return login.status === 200
}

/** Run 4: alternating usernames, the second username reset and made active, the first kept as the standby. */
async function alternatingRun(): Promise<boolean> {
  const alt = await startSimulators({ users: { 'm2m-api-user-b': 'Standby-Passw0rd' } })
  try {
    const [first, second] = ['m2m-api-user', 'm2m-api-user-b']
    const old = { username: first, password: alt.thingspace.user(first).password }
    const quarterAgo = new Date(Date.now() - 90 * DAY)
    for (const scope of SCOPES.slice(0, 2)) {
      alt.github.seed(scope, 'THINGSPACE_PASSWORD', old.password, quarterAgo)
      alt.github.seed(scope, 'THINGSPACE_USERNAME', first, quarterAgo)
    }
    alt.github.seed(SCOPES[0], 'THINGSPACE_PASSWORD_STANDBY', 'Standby-Passw0rd', quarterAgo)
    alt.github.seed(SCOPES[0], 'THINGSPACE_USERNAME_STANDBY', second, quarterAgo)
    const run = await runAction(alt, {
      inputs: {
        targets: 'repo\nenv:production',
        username: first,
        password: old.password,
        'standby-username': second,
        'standby-password': 'Standby-Passw0rd',
        'username-kind': 'secret'
      }
    })
    show(`Run 4: alternating usernames: ${second} is reset and made active; ${first}, unchanged, becomes the standby`, run)
    const oldPairWorks = await consumerLogsIn(alt, old.username, old.password)
    const newPair = {
      username: alt.github.secret(SCOPES[0], 'THINGSPACE_USERNAME')?.value ?? '',
      password: alt.github.secret(SCOPES[0], 'THINGSPACE_PASSWORD')?.value ?? ''
    }
    const newPairWorks = await consumerLogsIn(alt, newPair.username, newPair.password)
    console.log(
      `\n── a consumer after the rotation ──\n` +
        `  with the pair it held before (${old.username}):       ${oldPairWorks ? 'logs in' : 'REFUSED'}\n` +
        `  with the pair the targets hold now (${newPair.username}): ${newPairWorks ? 'logs in' : 'REFUSED'}`
    )
    return run.outputs.result === 'rotated' && oldPairWorks && newPairWorks
  } finally {
    await alt.stop()
  }
}
