/**
 * The GitHub Actions variables client (src/github-variables.ts) on the real Octokit from createOctokit
 * (src/github-client.ts), in process against the GitHub simulator: every target kind read, created,
 * updated and deleted in plain text; a variable deleted or created since it was read (and a creation
 * whose answer was lost) stored by the other call, once; an organization variable's visibility and
 * selection as asked, and never narrowed by an update that cannot name the repositories; targets
 * without variables refused before any request; writes bounded to WRITE_CONCURRENCY and not sent once
 * cancelled; errors that name the variable, the target and the permission, with the status the flow's
 * writeMayHaveLanded reads; retries logged with route templates only.
 */
import { afterEach, describe, expect, test } from '@jest/globals'
import { GitHubSimulator, type TokenGrant } from '../simulators/github.ts'
import { createOctokit } from '../src/github-client.ts'
import { GitHubSecrets, WRITE_CONCURRENCY, writeMayHaveLanded } from '../src/github-secrets.ts'
import { GitHubVariables, variablePermissionHint, type VariableAccess } from '../src/github-variables.ts'
import { seal } from '../src/seal.ts'
import { parseTargets, type Target } from '../src/targets.ts'
import { failure, until } from './support/async.ts'

const TOKEN = 'ghp_TestToken0123456789abcdefABCDEFabcd'
const NAME = 'THINGSPACE_USERNAME'
const HERE = { owner: 'acme', repo: 'fleet' }
const DAY = 24 * 60 * 60 * 1000

interface Rig {
  gh: GitHubSimulator
  variables: GitHubVariables
  secrets: GitHubSecrets
  info: string[]
  debug: string[]
  repoId: number
}

let running: GitHubSimulator[] = []

afterEach(async () => {
  await Promise.all(running.map((s) => s.stop()))
  running = []
})

async function rig(options: { grant?: TokenGrant; timeoutMs?: number } = {}): Promise<Rig> {
  const gh = await GitHubSimulator.create()
  running.push(gh)
  gh.addToken(TOKEN, options.grant ?? { write: true })
  const repoId = gh.addRepo('acme/fleet', ['production'])
  gh.addOrg('acme')
  await gh.start()
  const info: string[] = []
  const debug: string[] = []
  const octokit = createOctokit({
    token: TOKEN,
    baseUrl: new URL(gh.url),
    log: { info: (m) => info.push(m), debug: (m) => debug.push(m), warning: () => {} },
    retryAfterBaseMs: 0,
    timeoutMs: options.timeoutMs
  })
  return { gh, variables: new GitHubVariables(octokit), secrets: new GitHubSecrets(octokit, 'THINGSPACE_PASSWORD', seal), info, debug, repoId }
}

function target(line: string): Target {
  return parseTargets([line], HERE)[0]
}

/** GitHub's times are to the second. */
function secondsAgo(ms: number): Date {
  return new Date(Math.floor((Date.now() - ms) / 1000) * 1000)
}

const KINDS = [
  { line: 'repo', scope: 'repo:acme/fleet', path: '/repos/acme/fleet/actions/variables' },
  { line: 'env:production', scope: 'env:acme/fleet/production', path: '/repos/acme/fleet/environments/production/variables' },
  { line: 'org:acme', scope: 'org:acme', path: '/orgs/acme/actions/variables' }
]

describe('every target kind that has variables', () => {
  test.each(KINDS)('$line: read, created, read back, updated, deleted, and the secrets beside it untouched', async ({ line, scope, path }) => {
    const { gh, variables } = await rig()
    const t = target(line)
    gh.seed(scope, NAME, 'a secret of the same name', secondsAgo(DAY), scope.startsWith('org:') ? { visibility: 'all' } : {})
    expect(await variables.read(t, NAME)).toBeUndefined()

    gh.now = () => Date.parse('2030-05-06T07:08:09.876Z')
    expect(await variables.write(t, NAME, 'm2m-api-user-b', false)).toBe('created')
    expect(gh.variable(scope, NAME)).toMatchObject({ value: 'm2m-api-user-b', updatedAt: '2030-05-06T07:08:09Z' })
    expect(await variables.read(t, NAME)).toMatchObject({ value: 'm2m-api-user-b', updatedAt: new Date('2030-05-06T07:08:09Z') })

    gh.now = () => Date.parse('2030-08-06T00:00:00Z')
    expect(await variables.write(t, NAME, 'm2m-api-user', true)).toBe('updated')
    expect(gh.variable(scope, NAME)).toMatchObject({ value: 'm2m-api-user', createdAt: '2030-05-06T07:08:09Z', updatedAt: '2030-08-06T00:00:00Z' })

    await variables.remove(t, NAME)
    expect(gh.variable(scope, NAME)).toBeUndefined()
    expect(gh.secret(scope, NAME)?.value).toBe('a secret of the same name')
    expect(gh.log.map((e) => [e.call, e.method, e.path, e.status])).toEqual([
      ['get-variable', 'GET', `${path}/${NAME}`, 404],
      ['create-variable', 'POST', path, 201],
      ['get-variable', 'GET', `${path}/${NAME}`, 200],
      ['update-variable', 'PATCH', `${path}/${NAME}`, 204],
      ['delete-variable', 'DELETE', `${path}/${NAME}`, 204]
    ])
  })

  test('a variable already gone (404) counts as deleted', async () => {
    const { gh, variables } = await rig()
    await variables.remove(target('env:production'), NAME)
    expect(gh.calls('delete-variable').map((e) => e.status)).toEqual([404])
  })

  test("reads a value as stored, with an organization variable's visibility", async () => {
    const { gh, variables } = await rig()
    const at = secondsAgo(90 * DAY)
    gh.seedVariable('org:acme', NAME, ' spaced "quoted" ünïcødé ', at, { visibility: 'selected', selected: [7] })
    gh.seedVariable('repo:acme/fleet', NAME, 'plain', at)
    expect(await variables.read(target('org:acme:all'), NAME)).toEqual({ value: ' spaced "quoted" ünïcødé ', updatedAt: at, visibility: 'selected' })
    expect(await variables.read(target('repo'), NAME)).toEqual({ value: 'plain', updatedAt: at })
  })

  test.each([
    { name: 'Dependabot, a repository', line: 'dependabot:repo', label: 'dependabot:repo:acme/fleet' },
    { name: 'Codespaces, an organization', line: 'codespaces:org:acme', label: 'codespaces:org:acme' }
  ])('$name: refused before any request, whatever the call', async ({ line, label }) => {
    const { gh, variables } = await rig()
    const t = target(line)
    const refusals = await Promise.all([
      failure(variables.read(t, NAME)),
      failure(variables.write(t, NAME, 'x', false)),
      failure(variables.remove(t, NAME))
    ])
    expect(refusals.map((e) => e.message)).toEqual(Array<string>(3).fill(`${label} has no variables: only GitHub Actions has them`))
    expect(gh.log).toHaveLength(0)
  })
})

describe('a variable deleted or created since it was read', () => {
  test('gone when updated: created, by one more call', async () => {
    const { gh, variables } = await rig()
    expect(await variables.write(target('org:acme'), NAME, 'm2m-api-user-b', true)).toBe('created')
    expect(gh.variable('org:acme', NAME)).toMatchObject({ value: 'm2m-api-user-b', visibility: 'private' })
    expect(gh.log.map((e) => [e.call, e.status])).toEqual([
      ['update-variable', 404],
      ['create-variable', 201]
    ])
  })

  test('there when created: updated, keeping its visibility', async () => {
    const { gh, variables } = await rig()
    gh.seedVariable('org:acme', NAME, 'another run wrote this', secondsAgo(DAY), { visibility: 'all' })
    expect(await variables.write(target('org:acme'), NAME, 'm2m-api-user-b', false)).toBe('updated')
    expect(gh.variable('org:acme', NAME)).toMatchObject({ value: 'm2m-api-user-b', visibility: 'all' })
    expect(gh.log.at(-1)).toMatchObject({ call: 'update-variable', status: 204 })
  })

  // plugin-retry's default doNotRetry leaves 409 out; github-client.ts adds it: a conflict does not go away by asking again.
  test('a 409 to a creation is not retried: one creation, then the update', async () => {
    const { gh, variables, info } = await rig()
    gh.seedVariable('repo:acme/fleet', NAME, 'another run wrote this', secondsAgo(DAY))
    await variables.write(target('repo'), NAME, 'm2m-api-user-b', false)
    expect(gh.log.map((e) => [e.call, e.status])).toEqual([
      ['create-variable', 409],
      ['update-variable', 204]
    ])
    expect(info).toEqual([])
  })

  test('a creation whose answer was lost is retried, finds the variable it created, and updates it', async () => {
    const { gh, variables, info } = await rig()
    gh.inject({ call: 'create-variable', attempts: [1], drop: 'after' })
    expect(await variables.write(target('repo'), NAME, 'm2m-api-user-b', false)).toBe('updated')
    expect(gh.variable('repo:acme/fleet', NAME)?.value).toBe('m2m-api-user-b')
    expect(gh.log[0]).toMatchObject({ call: 'create-variable', status: 'dropped' })
    expect(gh.log[1]).toMatchObject({ call: 'create-variable', status: 409 })
    expect(gh.log.at(-1)).toMatchObject({ call: 'update-variable', status: 204 })
    expect(info[0]).toMatch(/^GitHub POST \/repos\/\{owner\}\/\{repo\}\/actions\/variables failed \(network error \(.+\)\); attempt 1 of 4/)
  })

  test('the other call is tried once: when it fails too, the error says why it was tried', async () => {
    const { gh, variables } = await rig()
    gh.inject({ call: 'create-variable', status: 403, body: { message: 'Resource not accessible by integration' } })
    const error = await failure(variables.write(target('env:production'), NAME, 'x', true))
    expect(error).toMatchObject({ name: 'GitHubError', status: 403 })
    expect(error.message).toBe(
      'Failed to write the variable THINGSPACE_USERNAME (gone when updated, so created) to env:acme/fleet/production: 403 Resource not accessible by integration ' +
        '(the github-token may not write these variables; it needs the "Environments" repository permission (write); classic: repo)'
    )
    expect(gh.log.map((e) => [e.call, e.status])).toEqual([
      ['update-variable', 404],
      ['create-variable', 403]
    ])
  })

  test.each([
    { name: 'an update refused', existed: true, call: 'update-variable' },
    { name: 'a creation refused', existed: false, call: 'create-variable' }
  ])('$name for another reason is not followed by the other call', async ({ existed, call }) => {
    const { gh, variables } = await rig()
    gh.inject({ call, status: 422, body: { message: 'Validation Failed' } })
    const error = await failure(variables.write(target('repo'), NAME, 'x', existed))
    expect(error.message).toBe('Failed to write the variable THINGSPACE_USERNAME to repo:acme/fleet: 422 Validation Failed')
    expect(gh.log.map((e) => e.call)).toEqual([call])
  })
})

describe('who may read an organization variable', () => {
  const ids = [1000, 555]
  test.each<{
    name: string
    line: string
    existing?: { visibility: 'all' | 'private' | 'selected'; selected?: number[] }
    access?: VariableAccess
    visibility: string
    selected?: number[]
  }>([
    { name: 'created with nothing asked: private', line: 'org:acme', visibility: 'private' },
    { name: 'created as the target asks', line: 'org:acme:all', visibility: 'all' },
    { name: 'created as the access says, over the target', line: 'org:acme:private', access: { visibility: 'all' }, visibility: 'all' },
    {
      name: 'created for the repositories named',
      line: 'org:acme',
      access: { visibility: 'selected', selectedRepositoryIds: ids },
      visibility: 'selected',
      selected: ids
    },
    { name: 'created selected with no repository known: none', line: 'org:acme:selected', visibility: 'selected', selected: [] },
    { name: 'updated with nothing asked: as it was', line: 'org:acme', existing: { visibility: 'all' }, visibility: 'all' },
    { name: 'updated as the target asks', line: 'org:acme:private', existing: { visibility: 'all' }, visibility: 'private' },
    {
      name: 'updated for the repositories named',
      line: 'org:acme',
      existing: { visibility: 'all' },
      access: { visibility: 'selected', selectedRepositoryIds: ids },
      visibility: 'selected',
      selected: ids
    },
    {
      name: 'updated selected with no repository known: as it was, never narrowed to none',
      line: 'org:acme:selected',
      existing: { visibility: 'all' },
      visibility: 'all'
    },
    {
      name: 'updated selected with no repository known keeps its repositories',
      line: 'org:acme',
      existing: { visibility: 'selected', selected: [7, 8] },
      access: { visibility: 'selected' },
      visibility: 'selected',
      selected: [7, 8]
    }
  ])('$name', async ({ line, existing, access, visibility, selected }) => {
    const { gh, variables } = await rig()
    if (existing) gh.seedVariable('org:acme', NAME, 'old', secondsAgo(DAY), existing)
    await variables.write(target(line), NAME, 'new', existing !== undefined, undefined, access)
    expect(gh.variable('org:acme', NAME)).toMatchObject({ value: 'new', visibility, selected })
    expect(gh.log.map((e) => e.call)).toEqual([existing ? 'update-variable' : 'create-variable'])
  })

  test('outside an organization the access is not sent (GitHub refuses it there)', async () => {
    const { gh, variables } = await rig()
    expect(await variables.write(target('repo'), NAME, 'v', false, undefined, { visibility: 'all' })).toBe('created')
    expect(gh.variable('repo:acme/fleet', NAME)?.value).toBe('v')
    expect(gh.variable('repo:acme/fleet', NAME)?.visibility).toBeUndefined()
  })
})

describe('writes', () => {
  test('go out at most ten at a time, even when 25 are asked for at once, and none is turned away', async () => {
    const { gh, variables } = await rig()
    gh.limitConcurrentWrites(WRITE_CONCURRENCY)
    expect(WRITE_CONCURRENCY).toBe(10)
    const targets = ['repo', 'env:production', 'org:acme'].map(target)
    const release = gh.hold('create-variable')
    const writes = Promise.all(Array.from({ length: 25 }, (_, i) => variables.write(targets[i % 3], `V_${i}`, `value-${i}`, false)))
    // Ten reach the server and are held there; an eleventh would have 200 ms more to arrive.
    expect(await until(() => gh.peakInFlight('create-variable') === 10)).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(gh.calls('create-variable')).toHaveLength(10)
    release()
    await writes
    expect(gh.calls('create-variable').map((e) => e.status)).toEqual(Array<number>(25).fill(201))
    expect(gh.peakInFlight('create-variable')).toBe(10)
    expect(gh.limited).toBe(0)
  })

  test('a write still queued when the signal aborts is not sent', async () => {
    const { gh, variables } = await rig()
    const release = gh.hold('create-variable') // none of the first ten is answered before the signal aborts
    const controller = new AbortController()
    const writes = Array.from({ length: 12 }, (_, i) => variables.write(target('repo'), `V_${i}`, 'v', false, controller.signal))
    expect(await until(() => gh.peakInFlight('create-variable') === WRITE_CONCURRENCY)).toBe(true)
    controller.abort(new Error('cancelled'))
    release()
    const settled = await Promise.allSettled(writes)
    expect(settled.map((w) => w.status)).toEqual([...Array<string>(10).fill('fulfilled'), 'rejected', 'rejected'])
    expect(settled.slice(10)).toEqual([
      { status: 'rejected', reason: new Error('cancelled') },
      { status: 'rejected', reason: new Error('cancelled') }
    ])
    expect(gh.calls('create-variable')).toHaveLength(10)
  })

  test('a removal is queued with them: with ten writes in flight it waits for a free place', async () => {
    const { gh, variables } = await rig()
    gh.latencyMs = 20
    gh.seedVariable('repo:acme/fleet', 'THINGSPACE_PASSWORD_ROTATION', 'write proof', secondsAgo(0))
    const writes = Array.from({ length: 10 }, (_, i) => variables.write(target('repo'), `V_${i}`, 'v', false))
    await Promise.all([...writes, variables.remove(target('repo'), 'THINGSPACE_PASSWORD_ROTATION')])
    const firstWriteEnd = Math.min(...gh.calls('create-variable').map((e) => e.end))
    expect(gh.calls('delete-variable')[0].start).toBeGreaterThanOrEqual(firstWriteEnd)
    expect(gh.variable('repo:acme/fleet', 'THINGSPACE_PASSWORD_ROTATION')).toBeUndefined()
  })
})

describe('failures', () => {
  test.each([
    { line: 'repo', scope: 'repo:acme/fleet', permission: '"Variables" repository permission (read); classic: repo' },
    { line: 'env:production', scope: 'env:acme/fleet/production', permission: '"Environments" repository permission (read); classic: repo' },
    {
      line: 'org:acme',
      scope: 'org:acme',
      permission: '"Variables" organization permission (read); classic: admin:org, and repo for private repositories'
    }
  ])(
    'a token without the variables permission of $line: a 403 that names it, while its secrets stay readable',
    async ({ line, scope, permission }) => {
      const { variables, secrets } = await rig({ grant: { write: true, denyVariables: [scope] } })
      const error = await failure(variables.read(target(line), NAME))
      expect(error).toMatchObject({ name: 'GitHubError', status: 403 })
      expect(error.message).toBe(
        `Failed to read the variable ${NAME} of ${target(line).label}: 403 Resource not accessible by personal access token (the github-token may not read these variables; it needs the ${permission})`
      )
      expect((await secrets.inspect(target(line))).existing).toBeUndefined()
    }
  )

  test.each([
    { name: 'a refused write has not landed', fault: { status: 403, body: { message: 'Forbidden' } }, status: 403, landed: false },
    { name: 'a write that answered 502 on every attempt may have landed', fault: { status: 502 }, status: 502, landed: true },
    { name: 'a write with no answer in time may have landed', fault: { stall: 'headers' as const }, status: undefined, landed: true }
  ])('$name: the status writeMayHaveLanded reads', async ({ fault, status, landed }) => {
    const { gh, variables } = await rig({ timeoutMs: 100 })
    gh.inject({ call: 'update-variable', ...fault })
    const error = await failure(variables.write(target('org:acme'), NAME, 'x', true))
    expect(error).toMatchObject({ name: 'GitHubError', status })
    expect(writeMayHaveLanded(error)).toBe(landed)
  })

  test('a token that may not write: the write error names the write permission', async () => {
    const { variables } = await rig({ grant: { write: false } })
    const error = await failure(variables.write(target('org:acme'), NAME, 'x', false))
    expect(error.message).toBe(
      'Failed to write the variable THINGSPACE_USERNAME to org:acme: 403 Resource not accessible by personal access token ' +
        '(the github-token may not write these variables; it needs the "Variables" organization permission (write); classic: admin:org, and repo for private repositories)'
    )
  })

  test('a removal that fails says what it could not delete', async () => {
    const { gh, variables } = await rig({ grant: { write: false } })
    gh.seedVariable('repo:acme/fleet', NAME, 'v', secondsAgo(0))
    const error = await failure(variables.remove(target('repo'), NAME))
    expect(error).toMatchObject({ status: 403 })
    expect(error.message).toMatch(/^Failed to delete the variable THINGSPACE_USERNAME from repo:acme\/fleet: 403 /)
    expect(gh.variable('repo:acme/fleet', NAME)).toBeDefined()
  })

  test('a 401 and a 404 say what they mean', async () => {
    const { gh, variables } = await rig({ grant: { write: true, scopes: ['repo:acme/fleet'] } })
    const hidden = await failure(variables.write(target('org:acme'), NAME, 'x', false))
    expect(hidden.message).toBe(
      'Failed to write the variable THINGSPACE_USERNAME to org:acme: 404 Not Found (the organization does not exist, or the github-token cannot see it)'
    )
    const missingEnv = await failure(variables.write(target('env:nowhere'), NAME, 'x', true))
    expect(missingEnv.message).toBe(
      'Failed to write the variable THINGSPACE_USERNAME (gone when updated, so created) to env:acme/fleet/nowhere: 404 Not Found (the environment does not exist, or the github-token cannot see it)'
    )
    gh.tokens.clear()
    const bad = await failure(variables.read(target('repo'), NAME))
    expect(bad).toMatchObject({ status: 401 })
    expect(bad.message).toBe(
      'Failed to read the variable THINGSPACE_USERNAME of repo:acme/fleet: 401 Bad credentials (the github-token is invalid or expired)'
    )
  })

  test.each([
    { name: 'no value', body: { name: NAME, updated_at: '2030-01-01T00:00:00Z' } },
    { name: 'no valid updated_at', body: { name: NAME, value: 'v', updated_at: 'yesterday' } }
  ])('an answer with $name is reported, not taken for a variable', async ({ body }) => {
    const { gh, variables } = await rig()
    gh.inject({ call: 'get-variable', status: 200, body })
    const error = await failure(variables.read(target('repo'), NAME))
    expect(error.name).toBe('GitHubError')
    expect(error.message).toBe(`Failed to read the variable ${NAME} of repo:acme/fleet: the answer for ${NAME} has no value and valid updated_at`)
  })

  test('variablePermissionHint: reads and writes for every kind', () => {
    expect(KINDS.map(({ line }) => variablePermissionHint(target(line), true))).toEqual([
      '"Variables" repository permission (write); classic: repo',
      '"Environments" repository permission (write); classic: repo',
      '"Variables" organization permission (write); classic: admin:org, and repo for private repositories'
    ])
  })
})

describe('every request', () => {
  test('a 5xx is retried by plugin-retry with a line per retry, and debug lines carry route templates, never names or values', async () => {
    const { gh, variables, info, debug } = await rig()
    gh.inject({ call: 'get-variable', attempts: [1], status: 502, body: { message: 'Bad Gateway' } })
    for (const { line } of KINDS) {
      await variables.write(target(line), NAME, 'm2m-api-user-b', false)
      await variables.read(target(line), NAME)
      await variables.write(target(line), NAME, 'm2m-api-user', true)
      await variables.remove(target(line), NAME)
    }
    expect(info).toEqual(['GitHub GET /repos/{owner}/{repo}/actions/variables/{name} failed (502 Bad Gateway); attempt 1 of 4, trying again in 0 s'])
    expect(debug).toHaveLength(gh.log.length)
    expect(new Set(debug)).toEqual(
      new Set([
        'GitHub POST /repos/{owner}/{repo}/actions/variables -> 201',
        'GitHub GET /repos/{owner}/{repo}/actions/variables/{name} -> 502 Bad Gateway',
        'GitHub GET /repos/{owner}/{repo}/actions/variables/{name} -> 200',
        'GitHub PATCH /repos/{owner}/{repo}/actions/variables/{name} -> 204',
        'GitHub DELETE /repos/{owner}/{repo}/actions/variables/{name} -> 204',
        'GitHub POST /repos/{owner}/{repo}/environments/{environment_name}/variables -> 201',
        'GitHub GET /repos/{owner}/{repo}/environments/{environment_name}/variables/{name} -> 200',
        'GitHub PATCH /repos/{owner}/{repo}/environments/{environment_name}/variables/{name} -> 204',
        'GitHub DELETE /repos/{owner}/{repo}/environments/{environment_name}/variables/{name} -> 204',
        'GitHub POST /orgs/{org}/actions/variables -> 201',
        'GitHub GET /orgs/{org}/actions/variables/{name} -> 200',
        'GitHub PATCH /orgs/{org}/actions/variables/{name} -> 204',
        'GitHub DELETE /orgs/{org}/actions/variables/{name} -> 204'
      ])
    )
  })
})

describe("the simulator's variables", () => {
  test("age() moves a variable's times into the past with the secrets'", async () => {
    const { gh } = await rig()
    gh.seedVariable('env:acme/fleet/production', NAME, 'v', new Date('2030-04-01T00:00:00Z'))
    gh.seed('env:acme/fleet/production', 'THINGSPACE_PASSWORD', 'p', new Date('2030-04-01T00:00:00Z'))
    gh.age(90 * DAY)
    expect(gh.variable('env:acme/fleet/production', NAME)).toMatchObject({ createdAt: '2030-01-01T00:00:00Z', updatedAt: '2030-01-01T00:00:00Z' })
    expect(gh.secret('env:acme/fleet/production', 'THINGSPACE_PASSWORD')).toMatchObject({ updatedAt: '2030-01-01T00:00:00Z' })
  })
})
