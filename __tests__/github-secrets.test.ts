/**
 * The GitHub secrets client (src/github-secrets.ts) on the real Octokit from createOctokit
 * (src/github-client.ts), in process against the GitHub simulator: every target kind read and
 * written with real sealing, org visibility and selection kept, pagination without a cap, writes
 * bounded to WRITE_CONCURRENCY in flight (removals queued with them), the rotation-state secret and an
 * earlier version's marker read from the home target, when this job read its secrets, the 422 key
 * rotation, 403 hints, retries that say what happened, the pinned API version and debug lines that
 * carry route templates only.
 */
import { afterEach, describe, expect, jest, test } from '@jest/globals'
import sodium from 'libsodium-wrappers'
import { GitHubSimulator, type TokenGrant } from '../simulators/github.ts'
import { API_VERSION, answeredStatus, createOctokit, describeFailure } from '../src/github-client.ts'
import { GitHubError, GitHubSecrets, permissionHint, WRITE_CONCURRENCY, type TargetState } from '../src/github-secrets.ts'
import { seal } from '../src/seal.ts'
import { parseTargets, type Target } from '../src/targets.ts'
import { closedPort, failure, until } from './support/async.ts'

const TOKEN = 'ghp_TestToken0123456789abcdefABCDEFabcd'
const SECRET = 'THINGSPACE_PASSWORD'
const HERE = { owner: 'acme', repo: 'fleet' }
const DAY = 24 * 60 * 60 * 1000

interface Rig {
  gh: GitHubSimulator
  secrets: GitHubSecrets
  info: string[]
  debug: string[]
  warning: string[]
  repoId: number
}

let running: GitHubSimulator[] = []

afterEach(async () => {
  jest.useRealTimers()
  await Promise.all(running.map((s) => s.stop()))
  running = []
})

async function rig(options: { grant?: TokenGrant; timeoutMs?: number; baseUrl?: URL } = {}): Promise<Rig> {
  const gh = await GitHubSimulator.create()
  running.push(gh)
  gh.addToken(TOKEN, options.grant ?? { write: true })
  const repoId = gh.addRepo('acme/fleet', ['production'])
  gh.addOrg('acme')
  await gh.start()
  const info: string[] = []
  const debug: string[] = []
  const warning: string[] = []
  const octokit = createOctokit({
    token: TOKEN,
    baseUrl: options.baseUrl ?? new URL(gh.url),
    log: { info: (m) => info.push(m), debug: (m) => debug.push(m), warning: (m) => warning.push(m) },
    retryAfterBaseMs: 0,
    timeoutMs: options.timeoutMs
  })
  return { gh, secrets: new GitHubSecrets(octokit, SECRET, seal), info, debug, warning, repoId }
}

function target(line: string): Target {
  return parseTargets([line], HERE)[0]
}

/** What the simulator's key for a scope is, in the API's base64. */
function publicKeyOf(gh: GitHubSimulator, scope: string): { keyId: string; key: string } {
  const keys = gh.scope(scope).keys
  return { keyId: keys.keyId, key: sodium.to_base64(keys.publicKey, sodium.base64_variants.ORIGINAL) }
}

/** Target line, the simulator's scope key for it, and whether it is an organization. */
const KINDS: [string, string][] = [
  ['repo', 'repo:acme/fleet'],
  ['env:production', 'env:acme/fleet/production'],
  ['org:acme', 'org:acme'],
  ['dependabot:repo', 'dependabot:repo:acme/fleet'],
  ['dependabot:org:acme', 'dependabot:org:acme'],
  ['codespaces:repo', 'codespaces:repo:acme/fleet'],
  ['codespaces:org:acme', 'codespaces:org:acme']
]

describe('every target kind', () => {
  test.each(KINDS)('%s: inspect reads the key and the metadata, write stores the sealed value', async (line, scope) => {
    const { gh, secrets } = await rig()
    const t = target(line)
    expect(t.label).toBe(scope)
    const before = await secrets.inspect(t)
    expect(before.publicKey).toEqual(publicKeyOf(gh, scope))
    expect(before.existing).toBeUndefined()
    expect(before.recordAt).toBeUndefined()

    const updatedAt = new Date(Math.floor((Date.now() - 100 * DAY) / 1000) * 1000) // GitHub's times are to the second
    gh.seed(scope, SECRET, 'old', updatedAt, scope.includes('org:') ? { visibility: 'all' } : {})
    const state = await secrets.inspect(t)
    expect(state.existing?.updatedAt).toEqual(updatedAt)

    const plaintext = 'n3w-P@ss "quoted" ünïcødé %s\r\n'
    await secrets.write(state, plaintext)
    expect(gh.secret(scope, SECRET)?.value).toBe(plaintext)
    const puts = gh.calls('put-secret', scope)
    expect(puts).toHaveLength(1)
    expect(puts[0].status).toBe(204)
    // The other apps' stores of the same repository or organization are untouched.
    const others = KINDS.map(([, other]) => other).filter((other) => other !== scope)
    expect(others.map((other) => gh.secret(other, SECRET)?.value)).toEqual(others.map(() => undefined))
  })

  test("the home target reads the rotation state and an earlier version's marker; the state is written private", async () => {
    const { gh, secrets } = await rig()
    const recorded = new Date('2030-01-02T03:04:05Z')
    const marked = new Date('2030-01-01T00:00:00Z')
    gh.seed('dependabot:org:acme', `${SECRET}_ROTATION`, 'note', recorded, { visibility: 'all' })
    gh.seed('dependabot:org:acme', `${SECRET}_REJECTED`, 'note', marked, { visibility: 'all' })
    gh.seed('dependabot:org:acme', SECRET, 'old', new Date(Date.now() - 2 * DAY), { visibility: 'selected', selected: [7] })
    const home = await secrets.inspect(target('dependabot:org:acme'), true)
    expect(home).toMatchObject({ recordAt: recorded, legacyMarkedAt: marked })
    const other = await secrets.inspect(target('dependabot:org:acme'))
    // Every target's rotation state is read (another run's copy anywhere means it is at work); the old marker only in the home target.
    expect(other).toMatchObject({ recordAt: recorded, legacyMarkedAt: undefined })
    expect([secrets.stateName, secrets.legacyMarkerName]).toEqual(['THINGSPACE_PASSWORD_ROTATION', 'THINGSPACE_PASSWORD_REJECTED'])
    await secrets.write(home, 'a login may have counted', secrets.stateName)
    expect(gh.secret('dependabot:org:acme', secrets.stateName)).toMatchObject({ value: 'a login may have counted', visibility: 'private' })
    expect(gh.secret('dependabot:org:acme', SECRET)).toMatchObject({ value: 'old', visibility: 'selected', selected: [7] })
  })

  test("updatedAt reads a secret's time again, to the second, and undefined once it is gone", async () => {
    const { gh, secrets } = await rig()
    const state = await secrets.inspect(target('env:production'))
    expect(await secrets.updatedAt(state)).toBeUndefined()
    gh.now = () => Date.parse('2030-05-06T07:08:09.876Z')
    await secrets.write(state, 'v')
    expect(await secrets.updatedAt(state)).toEqual(new Date('2030-05-06T07:08:09Z'))
    expect(await secrets.updatedAt(state, `${SECRET}_ROTATION`)).toBeUndefined()
  })
})

describe('organization visibility', () => {
  test.each([
    ['org:acme', 'all', 'all'],
    ['org:acme', undefined, 'private'],
    ['org:acme:private', 'all', 'private'],
    ['org:acme:all', 'private', 'all'],
    ['codespaces:org:acme', 'all', 'all'],
    ['dependabot:org:acme:all', undefined, 'all']
  ])('%s with %s existing is written %s', async (line, existing, written) => {
    const { gh, secrets } = await rig()
    const scope = target(line).label.replace(/:(all|private|selected)$/, '')
    if (existing) gh.seed(scope, SECRET, 'old', new Date(), { visibility: existing as 'all' | 'private' })
    const state = await secrets.inspect(target(line))
    expect(state.visibility).toBe(written)
    await secrets.write(state, 'new')
    expect(gh.secret(scope, SECRET)).toMatchObject({ value: 'new', visibility: written })
  })

  test.each(['org:acme', 'dependabot:org:acme', 'codespaces:org:acme'])('%s keeps the selected repositories', async (line) => {
    const { gh, secrets, repoId } = await rig()
    const scope = target(line).label
    gh.seed(scope, SECRET, 'old', new Date(), { visibility: 'selected', selected: [repoId, 555] })
    const state = await secrets.inspect(target(line))
    expect(state).toMatchObject({ visibility: 'selected', selectedRepositoryIds: [repoId, 555] })
    await secrets.write(state, 'new')
    expect(gh.secret(scope, SECRET)).toMatchObject({ value: 'new', visibility: 'selected', selected: [repoId, 555] })
  })

  test('a state with selected visibility but no ids selects none', async () => {
    const { gh, secrets } = await rig()
    const publicKey = publicKeyOf(gh, 'codespaces:org:acme')
    await secrets.write({ target: target('codespaces:org:acme'), publicKey, existing: undefined, visibility: 'selected' }, 'second')
    expect(gh.secret('codespaces:org:acme', SECRET)).toMatchObject({ value: 'second', visibility: 'selected', selected: [] })
  })

  // inspect() always sets the visibility; a hand-built TargetState (the field is optional) still writes private.
  test('a state built without a visibility is written private', async () => {
    const { gh, secrets } = await rig()
    const publicKey = publicKeyOf(gh, 'codespaces:org:acme')
    await secrets.write({ target: target('codespaces:org:acme'), publicKey, existing: undefined }, 'first')
    expect(gh.secret('codespaces:org:acme', SECRET)).toMatchObject({ value: 'first', visibility: 'private' })
  })

  test('selected requested for a secret that was not selected starts with no repository', async () => {
    const { gh, secrets } = await rig()
    gh.seed('org:acme', SECRET, 'old', new Date(), { visibility: 'all' })
    const state = await secrets.inspect(target('org:acme:selected'))
    expect(state).toMatchObject({ visibility: 'selected', selectedRepositoryIds: [] })
    expect(gh.calls('list-selected')).toHaveLength(0)
    await secrets.write(state, 'new')
    expect(gh.secret('org:acme', SECRET)).toMatchObject({ visibility: 'selected', selected: [] })
  })
})

describe('pagination of the selected repositories', () => {
  test('250 repositories served 30 per page are all kept', async () => {
    const { gh, secrets } = await rig()
    gh.maxPageSize = 30
    const ids = Array.from({ length: 250 }, (_, i) => 5000 + i)
    gh.seed('org:acme', SECRET, 'old', new Date(), { visibility: 'selected', selected: ids })
    const state = await secrets.inspect(target('org:acme'))
    expect(state.selectedRepositoryIds).toEqual(ids)
    expect(gh.calls('list-selected')).toHaveLength(9)
    await secrets.write(state, 'new')
    expect(gh.secret('org:acme', SECRET)?.selected).toEqual(ids)
  })

  // A server whose `next` link leads back to a page already read made the run follow it for ever, with no
  // report. Was a BUG at 1784f78 (38,389 pages in 605 s, then killed).
  test('pages whose next link leads back to the first are an error, not an endless read', async () => {
    const { gh, secrets } = await rig()
    gh.seed('org:acme', SECRET, 'old', new Date(), { visibility: 'selected', selected: [1] })
    const first = `${gh.url}/orgs/acme/actions/secrets/${SECRET}/repositories?per_page=100&page=1`
    const body = { total_count: 1000, repositories: [{ id: 1, name: 'r1' }] }
    gh.inject({ call: 'list-selected', status: 200, body, headers: { link: `<${first}>; rel="next"` } })
    const error = await failure(secrets.inspect(target('org:acme:selected')))
    expect(error.message).toBe(
      `Failed to list the repositories selected for ${SECRET} in org:acme:selected: GitHub's pages of selected repositories lead back to a page already read`
    )
    expect(gh.calls('list-selected')).toHaveLength(3)
  })

  test('a page without a total_count (not turned into a list) is an error', async () => {
    const { gh, secrets } = await rig()
    gh.seed('org:acme', SECRET, 'old', new Date(), { visibility: 'selected', selected: [1] })
    gh.inject({ call: 'list-selected', status: 200, body: { repositories: [{ id: 1, name: 'r1' }] } })
    const error = await failure(secrets.inspect(target('org:acme')))
    expect(error.message).toBe(
      `Failed to list the repositories selected for ${SECRET} in org:acme: GitHub answered a page of selected repositories that is not a list`
    )
  })

  test('more repositories than the total_count says is an error', async () => {
    const { gh, secrets } = await rig()
    gh.seed('org:acme', SECRET, 'old', new Date(), { visibility: 'selected', selected: [1, 2, 3] })
    gh.inject({ call: 'list-selected', status: 200, body: { total_count: 2, repositories: [1, 2, 3].map((id) => ({ id, name: `r${id}` })) } })
    const error = await failure(secrets.inspect(target('org:acme')))
    expect(error.message).toBe(
      `Failed to list the repositories selected for ${SECRET} in org:acme: GitHub listed more selected repositories than the 2 it counts`
    )
  })

  test('a total_count that disagrees with the pages is an error, not a silent cap', async () => {
    const { gh, secrets } = await rig()
    gh.seed('org:acme', SECRET, 'old', new Date(), { visibility: 'selected', selected: [1, 2] })
    gh.inject({ call: 'list-selected', status: 200, body: { total_count: 300, repositories: [{ id: 1 }, { id: 2 }] } })
    const error = await failure(secrets.inspect(target('org:acme')))
    expect(error).toBeInstanceOf(GitHubError)
    expect(error.message).toBe(
      'Failed to list the repositories selected for THINGSPACE_PASSWORD in org:acme: GitHub listed 2 of the 300 selected repositories; writing the secret now would drop the others'
    )
  })
})

describe('writes', () => {
  test('go out at most ten at a time, even when 25 are asked for at once', async () => {
    const { gh, secrets } = await rig()
    expect(WRITE_CONCURRENCY).toBe(10)
    const states = await Promise.all(
      ['repo', 'env:production', 'org:acme', 'dependabot:repo', 'codespaces:repo'].map((l) => secrets.inspect(target(l)))
    )
    const release = gh.hold('put-secret')
    const writes = Promise.all(Array.from({ length: 25 }, (_, i) => secrets.write(states[i % states.length], `value-${i}`, `S_${i}`)))
    // Ten reach the server and are held there; an eleventh would have 200 ms more to arrive.
    expect(await until(() => gh.peakInFlight('put-secret') === 10)).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(gh.calls('put-secret')).toHaveLength(10)
    release()
    await writes
    expect(gh.calls('put-secret')).toHaveLength(25)
    expect(gh.peakInFlight('put-secret')).toBe(10)
  })

  test("reads are not held to the plugin's default of 10 at once: 40 go out together", async () => {
    const { gh, secrets } = await rig()
    const t = target('repo')
    const release = gh.hold('get-secret')
    const reads = Promise.all(Array.from({ length: 40 }, (_, i) => secrets.updatedAt({ target: t }, `S_${i}`)))
    // All 40 reach the server while it holds them (10 would, with plugin-throttling's own global group).
    expect(await until(() => gh.peakInFlight('get-secret') === 40)).toBe(true)
    release()
    await reads
  })

  test('a write still queued when the signal aborts is not sent', async () => {
    const { gh, secrets } = await rig()
    const state = await secrets.inspect(target('repo'))
    const release = gh.hold('put-secret') // holds the first ten at the server while the signal aborts
    const controller = new AbortController()
    const writes = Array.from({ length: 12 }, (_, i) => secrets.write(state, 'v', `S_${i}`, controller.signal))
    // Ten are in flight, two wait for a place.
    expect(await until(() => gh.peakInFlight('put-secret') === 10)).toBe(true)
    controller.abort(new Error('cancelled'))
    release()
    const settled = await Promise.allSettled(writes)
    expect(settled.filter((w) => w.status === 'fulfilled')).toHaveLength(10)
    expect(gh.calls('put-secret')).toHaveLength(10)
  })

  test('a 422 after the key rotated re-reads the key, and the second PUT succeeds', async () => {
    const { gh, secrets } = await rig()
    const state = await secrets.inspect(target('dependabot:repo'))
    gh.inject({ call: 'put-secret', attempts: [1], rotateKey: true })
    await secrets.write(state, 'after-rotation')
    expect(gh.calls('put-secret').map((e) => e.status)).toEqual([422, 201])
    expect(gh.calls('public-key')).toHaveLength(2)
    expect(state.publicKey).toEqual(publicKeyOf(gh, 'dependabot:repo:acme/fleet'))
    expect(gh.secret('dependabot:repo:acme/fleet', SECRET)?.value).toBe('after-rotation')
  })

  test('a second 422 is reported', async () => {
    const { gh, secrets } = await rig()
    const state = await secrets.inspect(target('repo'))
    gh.inject({ call: 'put-secret', status: 422, body: { message: 'Bad request' } })
    const error = await failure(secrets.write(state, 'x'))
    expect(error).toMatchObject({ name: 'GitHubError', status: 422 })
    expect(error.message).toBe('Failed to write THINGSPACE_PASSWORD (after reading its new public key) to repo:acme/fleet: 422 Bad request')
    expect(gh.calls('put-secret')).toHaveLength(2)
  })
})

describe('removing the lockout record', () => {
  const MARKER = `${SECRET}_ROTATION`

  test.each(KINDS)('%s: deletes the marker, and only the marker', async (line, scope) => {
    const { gh, secrets } = await rig()
    const org = scope.includes('org:') ? { visibility: 'all' as const } : {}
    gh.seed(scope, MARKER, 'a login may count', new Date(Date.now() - DAY), org)
    gh.seed(scope, SECRET, 'old', new Date(Date.now() - 2 * DAY), org)
    const state = await secrets.inspect(target(line), true)
    expect(state.recordAt).toBeDefined()
    await secrets.remove(state, secrets.stateName)
    expect(gh.secret(scope, MARKER)).toBeUndefined()
    expect(gh.secret(scope, SECRET)?.value).toBe('old')
    expect(gh.calls('delete-secret').map((e) => [e.scope, e.status, e.path.endsWith(`/${MARKER}`)])).toEqual([[scope, 204, true]])
  })

  test('a marker that is already gone (404) counts as removed', async () => {
    const { gh, secrets } = await rig()
    const state = await secrets.inspect(target('repo'), true)
    await secrets.remove(state, secrets.stateName)
    expect(gh.calls('delete-secret').map((e) => e.status)).toEqual([404])
  })

  test('a token that may not delete: the error names the secret, the target and the permission', async () => {
    const { gh, secrets } = await rig({ grant: { write: false } })
    gh.seed('repo:acme/fleet', MARKER, 'a login may count', new Date(Date.now() - DAY))
    const state = await secrets.inspect(target('repo'), true)
    const error = await failure(secrets.remove(state, secrets.stateName))
    expect(error).toMatchObject({ name: 'GitHubError', status: 403 })
    expect(error.message).toBe(
      `Failed to delete ${MARKER} from repo:acme/fleet: 403 Resource not accessible by personal access token (the github-token may not write these secrets; it needs the "Secrets" repository permission (write); classic: repo)`
    )
    expect(gh.secret('repo:acme/fleet', MARKER)).toBeDefined()
  })

  test('is queued with the writes: with ten writes in flight it waits for a free place', async () => {
    const { gh, secrets } = await rig()
    gh.latencyMs = 20
    gh.seed('repo:acme/fleet', MARKER, 'a login may count', new Date(Date.now() - DAY))
    const state = await secrets.inspect(target('repo'), true)
    const writes = Array.from({ length: 10 }, (_, i) => secrets.write(state, 'v', `S_${i}`))
    await Promise.all([...writes, secrets.remove(state, secrets.stateName)])
    const firstWriteEnd = Math.min(...gh.calls('put-secret').map((e) => e.end))
    expect(gh.calls('delete-secret')[0].start).toBeGreaterThanOrEqual(firstWriteEnd)
    expect(gh.secret('repo:acme/fleet', MARKER)).toBeUndefined()
  })
})

describe('permissions', () => {
  test.each([
    ['repo', 'repo:acme/fleet', '"Secrets" repository permission (read); classic: repo'],
    ['env:production', 'env:acme/fleet/production', '"Environments" and "Secrets" repository permissions (read); classic: repo'],
    ['org:acme', 'org:acme', '"Secrets" organization permission (read); classic: admin:org'],
    ['dependabot:repo', 'dependabot:repo:acme/fleet', '"Dependabot secrets" repository permission (read); classic: repo'],
    ['dependabot:org:acme', 'dependabot:org:acme', '"Organization dependabot secrets" organization permission (read); classic: admin:org'],
    ['codespaces:repo', 'codespaces:repo:acme/fleet', '"Codespaces secrets" repository permission (write, even to read); classic: repo'],
    ['codespaces:org:acme', 'codespaces:org:acme', '"Organization codespaces secrets" organization permission (read); classic: admin:org']
  ])('a 403 reading %s names the permission', async (line, scope, permission) => {
    const { secrets } = await rig({ grant: { write: true, deny: [scope] } })
    const error = await failure(secrets.inspect(target(line)))
    expect(error).toMatchObject({ name: 'GitHubError', status: 403 })
    expect(error.message).toBe(
      `Failed to read the public key of ${target(line).label}: 403 Resource not accessible by personal access token (the github-token may not read these secrets; it needs the ${permission})`
    )
  })

  test.each([
    ['dependabot:repo', '"Dependabot secrets" repository permission (write)'],
    ['codespaces:org:acme', '"Organization codespaces secrets" organization permission (write)'],
    ['env:production', '"Environments" and "Secrets" repository permissions (write)']
  ])('a 403 writing %s names the write permission', async (line, permission) => {
    const { secrets } = await rig({ grant: { write: false } })
    const state = await secrets.inspect(target(line))
    const error = await failure(secrets.write(state, 'x'))
    expect(error.message).toContain(`the github-token may not write these secrets; it needs the ${permission}`)
  })

  test('permissionHint covers every kind for reads and writes', () => {
    for (const [line] of KINDS) {
      expect(permissionHint(target(line), true)).toMatch(/classic: (repo|admin:org)$/)
      expect(permissionHint(target(line), false)).toMatch(/\((read|write, even to read)\)/)
    }
  })

  test('a 401 and a 404 say what they mean', async () => {
    const { gh, secrets } = await rig({ grant: { write: true, scopes: ['repo:acme/fleet'] } })
    const hidden = await failure(secrets.inspect(target('org:acme')))
    expect(hidden.message).toBe(
      'Failed to read the public key of org:acme: 404 Not Found (the organization does not exist, or the github-token cannot see it)'
    )
    const missingEnv = await failure(secrets.inspect(target('env:nowhere')))
    expect(missingEnv.message).toContain('(the environment does not exist, or the github-token cannot see it)')
    gh.tokens.clear()
    const bad = await failure(secrets.inspect(target('repo')))
    expect(bad).toMatchObject({ status: 401 })
    expect(bad.message).toBe('Failed to read the public key of repo:acme/fleet: 401 Bad credentials (the github-token is invalid or expired)')
  })

  test('a malformed key or metadata answer is reported', async () => {
    const { gh, secrets } = await rig()
    gh.inject({ call: 'public-key', attempts: [1], status: 200, body: { key: 'x' } })
    expect((await failure(secrets.inspect(target('repo')))).message).toBe(
      'Failed to read the public key of repo:acme/fleet: the answer has no key_id and key'
    )
    // Both reads of the inspection (the password secret, then the rotation state) get the malformed answer.
    gh.inject({ call: 'get-secret', attempts: [1, 2], status: 200, body: { name: SECRET } })
    expect((await failure(secrets.inspect(target('repo')))).message).toBe(
      'Failed to read the secret THINGSPACE_PASSWORD of repo:acme/fleet: the answer for THINGSPACE_PASSWORD has no valid updated_at'
    )
  })
})

describe('retries', () => {
  test('a 5xx is retried by plugin-retry, and each retry is logged', async () => {
    const { gh, secrets, info } = await rig()
    gh.inject({ call: 'public-key', attempts: [1, 2], status: 502, body: { message: 'Bad Gateway' } })
    const state = await secrets.inspect(target('repo'))
    expect(state.publicKey.keyId).toBe(gh.scope('repo:acme/fleet').keys.keyId)
    expect(gh.calls('public-key').map((e) => e.status)).toEqual([502, 502, 200])
    expect(info).toEqual([
      'GitHub GET /repos/{owner}/{repo}/actions/secrets/public-key failed (502 Bad Gateway); attempt 1 of 4, trying again in 0 s',
      'GitHub GET /repos/{owner}/{repo}/actions/secrets/public-key failed (502 Bad Gateway); attempt 2 of 4, trying again in 0 s'
    ])
  })

  test('a 5xx on every attempt is reported with its status after 4 attempts', async () => {
    const { gh, secrets, info } = await rig()
    gh.inject({ call: 'get-secret', status: 503, body: { message: 'Service Unavailable' } })
    const error = await failure(secrets.inspect(target('codespaces:org:acme')))
    expect(error).toMatchObject({ status: 503 })
    expect(error.message).toBe('Failed to read the secret THINGSPACE_PASSWORD of codespaces:org:acme: 503 Service Unavailable')
    const ofThePassword = gh.calls('get-secret').filter((e) => e.path.endsWith(`/${SECRET}`))
    expect(ofThePassword).toHaveLength(4)
    expect(
      info
        .filter((l) => l.includes('{secret_name}'))
        .map((l) => /attempt (\d) of 4/.exec(l)?.[1])
        .sort()
    ).toEqual(['1', '1', '2', '2', '3', '3'])
  })

  test('a refused connection is a network error with its code, not a 500', async () => {
    const port = await closedPort()
    const { secrets, info } = await rig({ baseUrl: new URL(`http://127.0.0.1:${port}`) })
    const error = await failure(secrets.inspect(target('repo')))
    expect(error).toMatchObject({ status: undefined })
    expect(error.message).toBe('Failed to read the public key of repo:acme/fleet: network error (ECONNREFUSED)')
    expect(error.message).not.toContain('500')
    expect(info).toContainEqual(
      'GitHub GET /repos/{owner}/{repo}/actions/secrets/public-key failed (network error (ECONNREFUSED)); attempt 1 of 4, trying again in 0 s'
    )
  })

  test('a timeout is a timeout, not a 500', async () => {
    const { gh, secrets, info } = await rig({ timeoutMs: 100 })
    gh.inject({ call: 'public-key', delayMs: 500 })
    const error = await failure(secrets.inspect(target('repo')))
    expect(error.message).toBe('Failed to read the public key of repo:acme/fleet: no answer in time (timeout)')
    expect(error.message).not.toContain('500')
    expect(gh.calls('public-key')).toHaveLength(4)
    expect(info).toContainEqual(expect.stringContaining('failed (no answer in time (timeout)); attempt 3 of 4'))
  })

  test('a secondary rate limit is waited out and retried, with a warning', async () => {
    const { gh, secrets, warning } = await rig()
    const state = await secrets.inspect(target('repo'))
    gh.inject({
      call: 'put-secret',
      attempts: [1],
      status: 403,
      headers: { 'retry-after': '0' },
      body: { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' }
    })
    // plugin-throttling waits with timers of its own (a retry-after of 0 falls back to 60 s): run them on a fake clock.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'performance', 'hrtime', 'Date'] })
    let settled = false
    const writing = secrets.write(state, 'after-limit').finally(() => (settled = true))
    for (let i = 0; i < 2000 && !settled; i++) {
      await jest.advanceTimersByTimeAsync(1000)
      await new Promise((resolve) => setImmediate(resolve))
    }
    await writing
    expect(gh.calls('put-secret').map((e) => e.status)).toEqual([403, 201])
    expect(warning).toEqual([
      'GitHub secondary rate limit on PUT /repos/{owner}/{repo}/actions/secrets/{secret_name}: attempt 1 of 3, trying again in 60 s'
    ])
    expect(gh.secret('repo:acme/fleet', SECRET)?.value).toBe('after-limit')
  })

  test('a rate limit that lasts is given up', async () => {
    const { gh, secrets, warning } = await rig()
    gh.inject({
      call: 'public-key',
      status: 429,
      headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600) },
      body: { message: 'API rate limit exceeded' }
    })
    const error = await failure(secrets.inspect(target('repo')))
    expect(error.message).toContain('429 API rate limit exceeded')
    expect(warning).toEqual([
      expect.stringMatching(/^GitHub primary rate limit on GET \/repos\/\{owner\}\/\{repo\}\/actions\/secrets\/public-key: giving up$/)
    ])
  })
})

describe('every request', () => {
  test('pins the REST API version, and its debug line is a route template without values', async () => {
    const { gh, secrets, debug } = await rig()
    gh.addRun(77, new Date())
    gh.seed('org:acme', SECRET, 'old', new Date(), { visibility: 'all' })
    const states = await Promise.all(KINDS.map(([line]) => secrets.inspect(target(line), true)))
    await Promise.all(states.map((s: TargetState) => secrets.write(s, 'value')))
    await secrets.secretsReadAt({ repository: HERE, runId: 77, runAttempt: 1, runnerName: 'r' })
    expect(gh.log.length).toBeGreaterThan(25)
    expect(new Set(gh.log.map((e) => e.apiVersion))).toEqual(new Set([API_VERSION]))
    expect(API_VERSION).toBe('2022-11-28')
    expect(debug).toHaveLength(gh.log.length)
    for (const line of debug) {
      expect(line).toMatch(/^GitHub (GET|PUT) \/(repos\/\{owner\}\/\{repo\}|orgs\/\{org\})\/[\w{}/-]+ -> \d{3}( Not Found)?$/)
      expect(line).not.toContain(TOKEN)
      expect(line).not.toMatch(/acme|fleet|production|THINGSPACE/)
    }
    expect(debug).toContainEqual('GitHub PUT /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name} -> 201')
    expect(debug).toContainEqual('GitHub GET /repos/{owner}/{repo}/dependabot/secrets/{secret_name} -> 404 Not Found')
  })

  // octokit.paginate.iterator passes full URLs; their names are put back into placeholders.
  test('a paginated request logs its route template too, on every page and retry', async () => {
    const { gh, secrets, debug, info } = await rig()
    gh.maxPageSize = 30
    gh.seed('org:acme', SECRET, 'old', new Date(), { visibility: 'selected', selected: Array.from({ length: 40 }, (_, i) => i) })
    gh.inject({ call: 'list-selected', attempts: [2], status: 502 })
    await secrets.inspect(target('org:acme'))
    const route = 'GitHub GET /orgs/{org}/actions/secrets/{secret_name}/repositories'
    expect(debug.filter((l) => l.includes('/repositories'))).toEqual([`${route} -> 200`, `${route} -> 502`, `${route} -> 200`])
    expect(info).toEqual([`${route} failed (502); attempt 1 of 4, trying again in 0 s`])
  })
})

describe('secretsReadAt: when this job read its secrets', () => {
  const job = { repository: HERE, runId: 9, runAttempt: 2, runnerName: 'GitHub Actions 3' }

  test("is this job's start: the in-progress job of the run attempt on this runner", async () => {
    const { gh, secrets } = await rig()
    gh.addRun(9, new Date('2030-01-02T03:00:00Z'))
    gh.addJob(9, 2, { name: 'prepare', runnerName: 'GitHub Actions 1', startedAt: new Date('2030-01-02T03:00:05Z'), status: 'completed' })
    gh.addJob(9, 2, { name: 'rotate', runnerName: 'GitHub Actions 3', startedAt: new Date('2030-01-02T03:20:00Z') })
    gh.addJob(9, 1, { name: 'rotate', runnerName: 'GitHub Actions 3', startedAt: new Date('2030-01-02T02:00:00Z') })
    expect(await secrets.secretsReadAt(job)).toEqual({ at: new Date('2030-01-02T03:20:00Z'), of: 'job' })
    expect(gh.calls('list-jobs').map((e) => e.path)).toEqual(['/repos/acme/fleet/actions/runs/9/attempts/2/jobs'])
  })

  test('finds the job on any page of a long jobs list', async () => {
    const { gh, secrets } = await rig()
    gh.maxPageSize = 30
    gh.addRun(9, new Date('2030-01-02T03:00:00Z'))
    for (let i = 0; i < 70; i++) gh.addJob(9, 2, { name: `matrix ${i}`, runnerName: `runner ${i}`, startedAt: new Date('2030-01-02T03:01:00Z') })
    gh.addJob(9, 2, { name: 'rotate', runnerName: 'GitHub Actions 3', startedAt: new Date('2030-01-02T03:30:00Z') })
    expect(await secrets.secretsReadAt(job)).toEqual({ at: new Date('2030-01-02T03:30:00Z'), of: 'job' })
    expect(gh.calls('list-jobs')).toHaveLength(3)
  })

  test.each([
    { name: 'no job runs on this runner', jobs: [{ runnerName: 'GitHub Actions 9', status: 'in_progress' as const }], fault: undefined },
    { name: 'the job on this runner has completed', jobs: [{ runnerName: 'GitHub Actions 3', status: 'completed' as const }], fault: undefined },
    { name: 'the jobs cannot be listed', jobs: [], fault: { call: 'list-jobs', status: 403, body: { message: 'Forbidden' } } }
  ])("falls back to the run attempt's start when $name", async ({ jobs, fault }) => {
    const { gh, secrets } = await rig()
    gh.addRun(9, new Date('2030-01-02T03:00:00Z'))
    for (const j of jobs) gh.addJob(9, 2, { ...j, startedAt: new Date('2030-01-02T03:20:00Z') })
    if (fault) gh.inject(fault)
    expect(await secrets.secretsReadAt(job)).toEqual({ at: new Date('2030-01-02T03:00:00Z'), of: 'run' })
  })

  test("falls back to the run attempt's start when the jobs pages lead back to the first: a bounded read", async () => {
    const { gh, secrets } = await rig()
    gh.addRun(9, new Date('2030-01-02T03:00:00Z'))
    const first = `${gh.url}/repos/acme/fleet/actions/runs/9/attempts/2/jobs?per_page=100&page=1`
    gh.inject({ call: 'list-jobs', status: 200, body: { total_count: 500, jobs: [] }, headers: { link: `<${first}>; rel="next"` } })
    expect(await secrets.secretsReadAt(job)).toEqual({ at: new Date('2030-01-02T03:00:00Z'), of: 'run' })
    expect(gh.calls('list-jobs')).toHaveLength(3)
  })

  test('without a run attempt or a runner name it asks only for the run', async () => {
    const { gh, secrets } = await rig()
    gh.addRun(9, new Date('2030-01-02T03:00:00Z'))
    expect(await secrets.secretsReadAt({ repository: HERE, runId: 9, runAttempt: undefined, runnerName: 'x' })).toMatchObject({ of: 'run' })
    expect(await secrets.secretsReadAt({ repository: HERE, runId: 9, runAttempt: 1, runnerName: undefined })).toMatchObject({ of: 'run' })
    expect(gh.calls('list-jobs')).toHaveLength(0)
  })

  test("falls back to the run's created_at", async () => {
    const { gh, secrets } = await rig()
    gh.inject({ call: 'get-run', attempts: [1], status: 200, body: { id: 9, created_at: '2030-01-01T00:00:00Z' } })
    expect(await secrets.secretsReadAt(job)).toEqual({ at: new Date('2030-01-01T00:00:00Z'), of: 'run' })
  })

  test('says why the run could not be read', async () => {
    const { gh, secrets } = await rig()
    expect((await failure(secrets.secretsReadAt({ ...job, runId: 404404 }))).message).toBe('Could not read workflow run 404404: 404 Not Found')
    gh.inject({ call: 'get-run', attempts: [1], status: 200, body: { id: 9 } })
    const error = await failure(secrets.secretsReadAt(job))
    expect(error).toMatchObject({ name: 'GitHubError', status: undefined })
    expect(error.message).toBe('Could not read workflow run 9: the answer has no run_started_at or created_at')
  })
})

describe('describeFailure and answeredStatus', () => {
  test.each<[string, unknown, string]>([
    ['a status with a message', { response: { status: 404, data: { message: 'Not Found - https://docs.github.com/rest' } } }, '404 Not Found'],
    ['a status without a message', { response: { status: 502, data: '<html>' } }, '502'],
    ['a timeout deep in the causes', { status: 500, cause: { cause: { name: 'TimeoutError' } } }, 'no answer in time (timeout)'],
    ['a network code', { status: 500, message: 'fetch failed', cause: { code: 'ENOTFOUND' } }, 'network error (ENOTFOUND)'],
    ['a message only', { status: 500, message: 'other side closed' }, 'network error (other side closed)'],
    ['nothing', null, 'network error (no answer)']
  ])('%s', (_name, error, text) => {
    expect(describeFailure(error)).toBe(text)
  })

  test('answeredStatus reads only a real answer', () => {
    expect(answeredStatus({ response: { status: 403 } })).toBe(403)
    expect(answeredStatus({ status: 500 })).toBeUndefined()
    expect(answeredStatus(undefined)).toBeUndefined()
  })
})
