/**
 * The ThingSpace simulator's own features that other tests build on: several users, each with its own
 * password, lockout count and issued passwords (a session remembers its user, the reset changes that
 * user's password, log entries carry the username); a reset that need not check `oldPassword`; and
 * answers that act first and then answer in another shape. Driven through the real client.
 */
import { afterEach, describe, expect, test } from '@jest/globals'
import { ThingSpaceSimulator, type ThingSpaceOptions as SimOptions } from '../simulators/thingspace.ts'
import { SecretMask } from '../src/secrets-mask.ts'
import { ThingSpaceClient, type ThingSpaceError, type ThingSpaceOptions } from '../src/thingspace.ts'
import { failure } from './support/async.ts'

let sims: ThingSpaceSimulator[] = []

afterEach(async () => {
  await Promise.all(sims.map((s) => s.stop()))
  sims = []
})

async function started(
  options: SimOptions,
  clientOptions: Partial<ThingSpaceOptions> = {}
): Promise<{ sim: ThingSpaceSimulator; client: ThingSpaceClient }> {
  const sim = new ThingSpaceSimulator(options)
  sims.push(sim)
  await sim.start()
  const client = new ThingSpaceClient({
    baseUrl: new URL(sim.url),
    basicCredential: Buffer.from(`${sim.appKey}:${sim.appSecret}`).toString('base64'),
    mask: new SecretMask(() => {}),
    log: { info: () => {}, debug: () => {} },
    now: Date.now,
    sleep: () => Promise.resolve(),
    ...clientOptions
  })
  return { sim, client }
}

const TWO_USERS: SimOptions = { username: 'fleet-a', password: 'Passw0rd-A', users: { 'fleet-b': 'Passw0rd-B' } }

describe('several users', () => {
  test('each logs in with its own password; the primary getters mean the primary user', async () => {
    const { sim, client } = await started(TWO_USERS)
    await client.login('fleet-a', 'Passw0rd-A')
    await client.login('fleet-b', 'Passw0rd-B')
    expect(sim.users.map((u) => u.username)).toEqual(['fleet-a', 'fleet-b'])
    expect({ username: sim.username, password: sim.password, initial: sim.initialPassword }).toEqual({
      username: 'fleet-a',
      password: 'Passw0rd-A',
      initial: 'Passw0rd-A'
    })
    expect(sim.calls('login').map((e) => [e.username, e.status])).toEqual([
      ['fleet-a', 200],
      ['fleet-b', 200]
    ])
  })

  test('failed logins count toward their own user only, and lock that user alone after 5', async () => {
    const { sim, client } = await started(TWO_USERS)
    for (let i = 0; i < 5; i++) await failure(client.login('fleet-b', 'wrong'))
    await failure(client.login('fleet-a', 'wrong'))
    expect({ b: sim.user('fleet-b'), primary: [sim.consecutiveFailures, sim.locked] }).toEqual({
      b: expect.objectContaining({ consecutiveFailures: 5, locked: true }),
      primary: [1, false]
    })
    const locked = await failure<ThingSpaceError>(client.login('fleet-b', 'Passw0rd-B'))
    expect(locked.code).toBe('REQUEST_FAILED.UserLocked')
    await client.login('fleet-a', 'Passw0rd-A')
    expect(sim.consecutiveFailures).toBe(0)
  })

  test('an unknown username is refused and counts against nobody', async () => {
    const { sim, client } = await started(TWO_USERS)
    const error = await failure<ThingSpaceError>(client.login('nobody', 'Passw0rd-A'))
    expect(error).toMatchObject({ kind: 'refused', code: 'REQUEST_FAILED.InvalidCredentials' })
    expect(sim.users.map((u) => u.consecutiveFailures)).toEqual([0, 0])
    expect(sim.calls('login')[0].username).toBe('nobody')
  })

  test("the reset changes the session's user's password; passwords issued are kept per user and in order", async () => {
    const { sim, client } = await started(TWO_USERS)
    const b = await client.login('fleet-b', 'Passw0rd-B')
    const a = await client.login('fleet-a', 'Passw0rd-A')
    const newB = await client.resetPassword(b, 'Passw0rd-B')
    const newA = await client.resetPassword(a, 'Passw0rd-A')
    await client.logout(b)
    expect({
      b: [sim.user('fleet-b').password, sim.user('fleet-b').issuedPasswords],
      a: [sim.password, sim.issuedPasswords],
      all: sim.allIssuedPasswords
    }).toEqual({ b: [newB, [newB]], a: [newA, [newA]], all: [newB, newA] })
    expect(sim.log.filter((e) => e.call !== 'token').map((e) => `${e.call} ${e.username}`)).toEqual([
      'login fleet-b',
      'login fleet-a',
      'reset fleet-b',
      'reset fleet-a',
      'logout fleet-b'
    ])
    expect(sim.secrets()).toEqual(expect.arrayContaining(['Passw0rd-A', 'Passw0rd-B', newA, newB]))
  })

  test("assigning password changes the primary user's, as before", async () => {
    const { sim, client } = await started(TWO_USERS)
    sim.password = 'Changed-by-hand'
    await client.login('fleet-a', 'Changed-by-hand')
    expect([sim.user('fleet-a').password, sim.user('fleet-b').password]).toEqual(['Changed-by-hand', 'Passw0rd-B'])
  })

  test('the primary user may be listed in users with the same password, not another', () => {
    expect(new ThingSpaceSimulator({ username: 'u', password: 'p', users: { u: 'p' } }).users).toHaveLength(1)
    expect(new ThingSpaceSimulator({ username: 'u', users: { u: 'from-users' } }).password).toBe('from-users')
    expect(() => new ThingSpaceSimulator({ username: 'u', password: 'p', users: { u: 'q' } })).toThrow('users gives u another password')
    expect(() => new ThingSpaceSimulator().user('nobody')).toThrow('no user nobody')
  })
})

describe('checkOldPassword', () => {
  test.each([
    { name: 'checked (the default): a wrong oldPassword is refused', options: {}, changed: false },
    { name: 'not checked: a wrong oldPassword changes the password anyway', options: { checkOldPassword: false }, changed: true }
  ])('$name', async ({ options, changed }) => {
    const { sim, client } = await started(options)
    const session = await client.login(sim.username, sim.password)
    const outcome = await client.resetPassword(session, 'not-the-password').then(
      (newPassword) => ({ ok: true, matches: newPassword === sim.password }),
      (error: ThingSpaceError) => ({ ok: false, matches: error.code === 'INPUT_INVALID.OldPassword' })
    )
    expect({ ...outcome, changed: sim.password !== sim.initialPassword }).toEqual({ ok: changed, matches: true, changed })
  })
})

describe('answers in place of the simulator', () => {
  test('afterActing: the change is made, then the fault answers; the value the client never saw is marked undelivered', async () => {
    const { sim, client } = await started({})
    const session = await client.login(sim.username, sim.password)
    sim.inject({ call: 'reset', afterActing: true, status: 502 })
    const error = await failure<ThingSpaceError>(client.resetPassword(session, sim.initialPassword))
    expect(error.kind).toBe('server')
    expect(sim.issuedPasswords).toHaveLength(1)
    expect(sim.neverDelivered.has(sim.password)).toBe(true)
  })

  test('without afterActing, the fault stands for the gateway: nothing is done', async () => {
    const { sim, client } = await started({})
    sim.inject({ call: 'login', status: 401, body: {} })
    await failure(client.login(sim.username, 'wrong'))
    expect(sim.consecutiveFailures).toBe(0)
  })

  test('a token whose answer stalled, handed out again within its hour, counts as delivered', async () => {
    const { sim, client } = await started({}, { timeoutsMs: { token: 100 } })
    sim.inject({ call: 'token', attempts: [1], stall: 'body' })
    const token = await client.token()
    expect({ issued: sim.issuedTokens, delivered: !sim.neverDelivered.has(token) }).toEqual({ issued: [token], delivered: true })
  })
})
