/**
 * Issue 4: every bad input fails the step before anything is sent. Each row runs the bundle and
 * checks the error names the input, the outputs say failed-unchanged, and neither simulator saw a request.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals'
import type { Simulators } from '../simulators/harness.ts'
import { REPO, run, simulators, stopSimulators } from './support/scenario.ts'

let sims: Simulators
beforeAll(async () => {
  sims = await simulators()
})
afterAll(stopSimulators)
beforeEach(() => {
  sims.thingspace.log.length = 0
  sims.github.log.length = 0
})

const B64_31 = Buffer.alloc(31, 7).toString('base64')
const B64URL_32 = Buffer.alloc(32, 0xfb).toString('base64url') + '='

const rows: [string, Record<string, string>, Record<string, string>, RegExp][] = [
  ['empty username', { username: '' }, {}, /Input "username" is required/],
  ['empty password', { password: '' }, {}, /Input "password" is required/],
  ['blank password', { password: '   ' }, {}, /Input "password" is required/],
  ['empty client-id', { 'client-id': '' }, {}, /Input "client-id" is required/],
  ['empty client-secret', { 'client-secret': '' }, {}, /Input "client-secret" is required/],
  ['empty github-token', { 'github-token': '' }, {}, /Input "github-token" is required/],
  ['secret-name with a leading digit', { 'secret-name': '1PASSWORD' }, {}, /Input "secret-name" must use only letters, digits and "_"/],
  ['secret-name with a dash', { 'secret-name': 'UWS-PASSWORD' }, {}, /Input "secret-name"/],
  ['secret-name with the GITHUB_ prefix', { 'secret-name': 'github_password' }, {}, /Input "secret-name" .*GITHUB_/],
  ['targets with an unknown kind', { targets: 'repo\nbucket:x' }, {}, /Input "targets": line 2 "bucket:x": unknown kind/],
  ['targets with a malformed OWNER/REPO', { targets: 'repo:acme' }, {}, /Input "targets": line 1 .*not OWNER\/REPO/],
  ['targets with a bad visibility', { targets: 'org:acme:internal' }, {}, /Input "targets": .*visibility must be one of all, private, selected/],
  ['targets naming one scope twice', { targets: 'repo\nrepo:acme/fleet' }, {}, /Input "targets": .*already named on line 1/],
  ['targets with only comments', { targets: '# nothing\n' }, {}, /Input "targets": no target given/],
  ['a bare repo without GITHUB_REPOSITORY', { targets: 'repo' }, { GITHUB_REPOSITORY: '' }, /Input "targets": .*GITHUB_REPOSITORY is not set/],
  ['dry-run that is not a boolean', { 'dry-run': 'yes' }, {}, /Input "dry-run" must be true or false/],
  ['verify that is not a boolean', { verify: '1' }, {}, /Input "verify" must be true or false/],
  ['negative min-age-days', { 'min-age-days': '-1' }, {}, /Input "min-age-days" must be a whole number/],
  ['fractional min-age-days', { 'min-age-days': '1.5' }, {}, /Input "min-age-days"/],
  ['worded min-age-days', { 'min-age-days': 'ninety' }, {}, /Input "min-age-days"/],
  [
    'recovery-public-key that is not base64',
    { 'recovery-public-key': 'not a key' },
    {},
    /Input "recovery-public-key" must be the standard base64 of a 32-byte/
  ],
  ['recovery-public-key of 31 bytes', { 'recovery-public-key': B64_31 }, {}, /Input "recovery-public-key"/],
  ['recovery-public-key in URL-safe base64', { 'recovery-public-key': B64URL_32 }, {}, /Input "recovery-public-key"/],
  [
    'plain http thingspace-url to a remote host',
    { 'thingspace-url': 'http://thingspace.verizon.com' },
    {},
    /Input "thingspace-url" must be an https:\/\/ URL; plain http:\/\/ is accepted only for a loopback host/
  ],
  ['thingspace-url that is not a URL', { 'thingspace-url': 'thingspace.verizon.com' }, {}, /Input "thingspace-url" must be an https:\/\/ URL/],
  ['thingspace-url with another scheme', { 'thingspace-url': 'ftp://127.0.0.1/' }, {}, /Input "thingspace-url" must be an https:\/\/ URL/],
  [
    'thingspace-url with credentials',
    { 'thingspace-url': 'https://user:pw@thingspace.verizon.com' },
    {},
    /Input "thingspace-url" must not carry credentials/
  ]
]

describe('bad input stops the step before any request', () => {
  test.each(rows)('%s', async (_name, inputs, env, message) => {
    const result = await run(sims, { inputs, env })

    expect(result.code).toBe(1)
    const error = result.stdout.split('\n').find((line) => line.startsWith('::error::'))
    expect(error).toMatch(message)
    expect(error).toContain('Nothing was sent')
    expect(result.outputs).toEqual({ result: 'failed-unchanged', rotated: 'false', 'targets-updated': '0' })
    expect(sims.thingspace.log).toEqual([])
    expect(sims.github.log).toEqual([])
  })

  test('the YAML 1.2 core booleans are all accepted', async () => {
    for (const value of ['True', 'TRUE', 'true']) {
      sims.github.scope(REPO).secrets.clear() // a dry run writes the secret; the stale guard would see that
      const result = await run(sims, { inputs: { 'dry-run': value } })
      expect(result.outputs.result).toBe('dry-run')
    }
  })
})
