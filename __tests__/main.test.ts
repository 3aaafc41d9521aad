/**
 * run() (src/main.ts) in process, wired to the real clients, against both simulators on 127.0.0.1:
 * inputs from INPUT_* variables, the run's context from GITHUB_* variables (read by @actions/github
 * when it is first imported, so they are set before src/main.ts is; a test of a run nobody started
 * by hand sets @actions/github's context.eventName instead), outputs and summary in files.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, jest, test } from '@jest/globals'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { FIXTURE, parseOutputFile, standardInputs, startSimulators, type Simulators } from '../simulators/harness.ts'

const SECRET = 'THINGSPACE_PASSWORD'
const REPO = `repo:${FIXTURE.repository}`

let run: () => Promise<void>
/** @actions/github's context, the one src/main.ts reads. */
let githubContext: { eventName: string }
/** The simulators the run's context (GITHUB_API_URL) points at. */
let contextSims: Simulators
let perTest: Simulators | undefined
let dir: string
let files: { output: string; summary: string }
let savedEnv: NodeJS.ProcessEnv
let stdout: string[]

beforeAll(async () => {
  contextSims = await startSimulators()
  dir = mkdtempSync(path.join(tmpdir(), 'main-test-'))
  files = { output: path.join(dir, 'output'), summary: path.join(dir, 'summary') }
  savedEnv = { ...process.env }
  Object.assign(process.env, {
    GITHUB_API_URL: contextSims.github.url,
    GITHUB_REPOSITORY: FIXTURE.repository,
    GITHUB_RUN_ID: String(FIXTURE.runId),
    GITHUB_EVENT_NAME: 'workflow_dispatch',
    GITHUB_SERVER_URL: 'https://github.com'
  })
  delete process.env.GITHUB_EVENT_PATH
  ;({ run } = await import('../src/main.ts'))
  ;({ context: githubContext } = await import('@actions/github'))
})

afterAll(async () => {
  await contextSims.stop()
  rmSync(dir, { recursive: true, force: true })
  for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name]
  Object.assign(process.env, savedEnv)
})

let env: NodeJS.ProcessEnv
let listeners: { SIGINT: number; SIGTERM: number }

beforeEach(() => {
  env = { ...process.env }
  for (const name of Object.keys(process.env)) if (name.startsWith('INPUT_')) delete process.env[name]
  writeFileSync(files.output, '')
  writeFileSync(files.summary, '')
  process.env.GITHUB_OUTPUT = files.output
  process.env.GITHUB_STEP_SUMMARY = files.summary
  stdout = []
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk))
    return true
  })
  listeners = { SIGINT: process.listenerCount('SIGINT'), SIGTERM: process.listenerCount('SIGTERM') }
})

afterEach(async () => {
  jest.restoreAllMocks()
  process.exitCode = undefined
  // run() leaves its signal handlers registered (index.ts exits right after it); remove what it added.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    for (const listener of process.listeners(signal).slice(listeners[signal])) process.removeListener(signal, listener)
  }
  for (const name of Object.keys(process.env)) if (!(name in env)) delete process.env[name]
  Object.assign(process.env, env)
  await perTest?.stop()
  perTest = undefined
})

function setInputs(inputs: Record<string, string>): void {
  for (const [name, value] of Object.entries(inputs)) process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value
}

function outputs(): Record<string, string> {
  return parseOutputFile(readFileSync(files.output, 'utf8'))
}

/** Workflow-command lines other than add-mask, which carry the values to mask by design. */
function printed(): string[] {
  return stdout
    .join('')
    .split('\n')
    .filter((line) => !line.startsWith('::add-mask::'))
}

function expectNoLeak(sims: Simulators): void {
  const secrets = [...sims.thingspace.secrets(), FIXTURE.githubToken]
  const text = printed().join('\n') + readFileSync(files.summary, 'utf8') + readFileSync(files.output, 'utf8')
  expect(secrets.filter((s) => text.includes(s))).toEqual([])
}

describe('run', () => {
  test('rotates with INPUT_GITHUB-API-URL, and the outputs, summary and notice say so', async () => {
    perTest = await startSimulators()
    const sims = perTest
    const initial = sims.thingspace.password
    setInputs({ ...standardInputs(sims), 'github-api-url': sims.github.url, targets: 'repo\ndependabot:repo' })
    await run()
    expect(outputs()).toEqual({ result: 'rotated', rotated: 'true', 'targets-updated': '2' })
    expect(sims.thingspace.password).not.toBe(initial)
    expect(sims.github.secret(REPO, SECRET)?.value).toBe(sims.thingspace.password)
    expect(sims.github.secret(`dependabot:${REPO}`, SECRET)?.value).toBe(sims.thingspace.password)
    expect(sims.thingspace.calls('reset')).toHaveLength(1)
    expect(sims.thingspace.openSessions).toBe(0)
    expect(contextSims.github.log).toHaveLength(0)
    expect(readFileSync(files.summary, 'utf8')).toContain('<h2>ThingSpace password rotation: <code>rotated</code></h2>')
    expect(printed()).toContainEqual(expect.stringMatching(/^::notice title=ThingSpace password rotation%3A rotated::The password was changed/))
    expect(stdout.join('')).toContain(`::add-mask::${sims.thingspace.password}`)
    expect(process.exitCode).toBeUndefined()
    expectNoLeak(sims)
  })

  test('without github-api-url, GitHub is reached at the context API URL; a failed logout is a warning', async () => {
    const sims = contextSims
    sims.thingspace.inject({ call: 'logout', status: 500, body: { message: 'down' } })
    setInputs(standardInputs(sims))
    await run()
    expect(outputs().result).toBe('rotated')
    expect(sims.github.secret(REPO, SECRET)?.value).toBe(sims.thingspace.password)
    expect(sims.github.calls('get-run')).toHaveLength(1)
    expect(printed()).toContainEqual(
      expect.stringMatching(
        /^::warning title=ThingSpace password rotation::ThingSpace logout failed \(the session will expire on its own\): ThingSpace logout: answered 500/
      )
    )
    expect(process.exitCode).toBeUndefined()
    expectNoLeak(sims)
  })

  test('a SIGINT during the login ends in failed-unchanged, reported at once', async () => {
    perTest = await startSimulators()
    const sims = perTest
    let handler: NodeJS.SignalsListener | undefined
    sims.thingspace.inject({
      call: 'login',
      delayMs: 150,
      onHit: () => {
        handler = process.listeners('SIGINT').at(-1)
        handler?.('SIGINT')
      }
    })
    setInputs({ ...standardInputs(sims), 'github-api-url': sims.github.url })
    await run()
    expect(handler).toBeDefined()
    expect(outputs().result).toBe('failed-unchanged')
    expect(sims.thingspace.calls('reset')).toHaveLength(0)
    expect(printed()).toContain('Received SIGINT')
    expect(printed().find((line) => line.startsWith('::error'))).toContain('the runner cancelled the step (SIGINT) before the reset was sent')
    expect(process.exitCode).toBe(1)
  })

  test('an input error is failed-unchanged, "Nothing was sent", and neither service saw a request', async () => {
    perTest = await startSimulators()
    const sims = perTest
    const before = contextSims.github.log.length
    setInputs({ ...standardInputs(sims), 'github-api-url': sims.github.url, targets: 'repo\ndependabot:env:production' })
    await run()
    expect(outputs()).toEqual({ result: 'failed-unchanged', rotated: 'false', 'targets-updated': '0' })
    const error = printed().find((line) => line.startsWith('::error'))
    expect(error).toMatch(
      /^::error title=ThingSpace password rotation%3A failed-unchanged::Input "targets": .*dependabot secrets have no environments/
    )
    expect(error).toContain('Nothing was sent; the password was not changed.')
    expect(process.exitCode).toBe(1)
    expect(sims.thingspace.log).toHaveLength(0)
    expect(sims.github.log).toHaveLength(0)
    expect(contextSims.github.log.length).toBe(before)
    expect(stdout.join('')).toContain(`::add-mask::${sims.thingspace.password}`)
    expectNoLeak(sims)
  })

  test('a refused login is failed-unchanged, sent once, and recorded for the schedule', async () => {
    perTest = await startSimulators()
    const sims = perTest
    setInputs({ ...standardInputs(sims), password: 'not-the-password', 'github-api-url': sims.github.url })
    await run()
    expect(outputs().result).toBe('failed-unchanged')
    expect(sims.thingspace.calls('login')).toHaveLength(1)
    expect(sims.thingspace.calls('reset')).toHaveLength(0)
    expect(sims.github.secret(REPO, `${SECRET}_ROTATION`)).toBeDefined()
    expect(sims.github.secret(REPO, SECRET)).toBeUndefined()
    expect(printed().find((line) => line.startsWith('::error'))).toMatch(/ThingSpace refused the login for m2m-api-user/)
    expect(process.exitCode).toBe(1)
  })
})

describe('a run nobody started by hand', () => {
  const MARKER = `${SECRET}_ROTATION`
  const READ_ONLY_TOKEN = 'ghp_ReadOnlyToken0123456789abcdefABCDEFab'
  let event: string

  beforeEach(() => {
    event = githubContext.eventName
  })

  afterEach(() => {
    githubContext.eventName = event
  })

  /** The simulator's log entries of one call on the marker secret, or on the password secret. */
  const onSecret = (sims: Simulators, call: string, name: string) => sims.github.log.filter((e) => e.call === call && e.path.endsWith(`/${name}`))

  test.each(['schedule', 'repository_dispatch'])(
    'a %s run writes the rotation state (proof and record) before its login is sent, and deletes the record once the login succeeded',
    async (eventName) => {
      perTest = await startSimulators()
      const sims = perTest
      githubContext.eventName = eventName
      setInputs({ ...standardInputs(sims), 'github-api-url': sims.github.url })
      await run()
      expect(outputs().result).toBe('rotated')
      const [login] = sims.thingspace.calls('login')
      const markerPuts = onSecret(sims, 'put-secret', MARKER)
      const deletes = onSecret(sims, 'delete-secret', MARKER)
      const passwordPuts = onSecret(sims, 'put-secret', SECRET)
      // The password secret is written once, with the new password, after the reset.
      expect([markerPuts.length, deletes.length, passwordPuts.length]).toEqual([1, 1, 1])
      expect(markerPuts[0]).toMatchObject({ scope: REPO, status: 201 })
      expect(markerPuts[0].end).toBeLessThanOrEqual(login.start)
      expect(passwordPuts[0].start).toBeGreaterThanOrEqual(sims.thingspace.calls('reset')[0].end)
      expect(deletes[0]).toMatchObject({ scope: REPO, status: 204 })
      expect(deletes[0].start).toBeGreaterThanOrEqual(passwordPuts[0].end)
      expect(sims.github.secret(REPO, MARKER)).toBeUndefined()
      expect(sims.github.secret(REPO, SECRET)?.value).toBe(sims.thingspace.password)
      expect(process.exitCode).toBeUndefined()
    }
  )

  test('a scheduled run whose token cannot write sends no login, and says why', async () => {
    perTest = await startSimulators()
    const sims = perTest
    sims.github.addToken(READ_ONLY_TOKEN, { write: false })
    githubContext.eventName = 'schedule'
    setInputs({ ...standardInputs(sims), 'github-api-url': sims.github.url, 'github-token': READ_ONLY_TOKEN })
    await run()
    expect(outputs()).toEqual({ result: 'failed-unchanged', rotated: 'false', 'targets-updated': '0' })
    expect(sims.thingspace.calls('login')).toHaveLength(0)
    expect(sims.thingspace.calls('token')).toHaveLength(1)
    expect(onSecret(sims, 'put-secret', MARKER).map((e) => e.status)).toEqual([403])
    const error = printed().find((line) => line.startsWith('::error'))
    expect(error).toContain(`not every target accepted a write of ${MARKER}`)
    expect(error).toContain(`Failed to write ${MARKER} to ${REPO}: 403`)
    expect(process.exitCode).toBe(1)
    expectNoLeak(sims)
  })

  test('a refused login in a scheduled run keeps the record written before it, and writes no second one', async () => {
    perTest = await startSimulators()
    const sims = perTest
    githubContext.eventName = 'schedule'
    setInputs({ ...standardInputs(sims), password: 'not-the-password', 'github-api-url': sims.github.url })
    await run()
    expect(outputs().result).toBe('failed-unchanged')
    expect(sims.thingspace.calls('login')).toHaveLength(1)
    expect(onSecret(sims, 'put-secret', MARKER)).toHaveLength(1)
    expect(onSecret(sims, 'delete-secret', MARKER)).toHaveLength(0)
    expect(sims.github.secret(REPO, MARKER)).toBeDefined()
    expect(printed().find((line) => line.startsWith('::error'))).toContain('Runs nobody started by hand will not log in again')
  })
})
