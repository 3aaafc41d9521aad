/**
 * A bad input fails the step before anything is sent, through the runner's INPUT_* variables: the
 * error names the input, the outputs say failed-unchanged, and neither simulator saw a request. A
 * few representative rows; every rule of the grammar and the inputs is tested in process.
 */
import { describe, expect, test } from '@jest/globals'
import { annotation, requestCount, run, withSimulators } from './support/scenario.ts'

const rows: [string, Record<string, string>, RegExp][] = [
  [
    'a Dependabot environment, which does not exist',
    { targets: 'repo\ndependabot:env:production' },
    /^Input "targets": "dependabot:env:production": dependabot secrets have no environments/
  ],
  [
    'a Codespaces org with a bad visibility',
    { targets: 'codespaces:org:acme:internal' },
    /^Input "targets": .*visibility must be one of all, private, selected/
  ],
  ['a bad boolean', { 'dry-run': 'yes' }, /^Input "dry-run" must be true or false .*got "yes"/],
  ['a blank password', { password: '   ' }, /^Input "password" is required and was empty/],
  ['a username of two lines', { username: 'm2m-api\nuser' }, /^Input "username" must be one line/],
  ['a client-id with a colon', { 'client-id': 'app:key' }, /^Input "client-id" must not contain ":"/],
  ['a secret-name with the GITHUB_ prefix', { 'secret-name': 'github_password' }, /^Input "secret-name" .*GITHUB_/],
  [
    'plain http to a remote ThingSpace',
    { 'thingspace-url': 'http://thingspace.verizon.com' },
    /^Input "thingspace-url" must be an https:\/\/ URL; plain http:\/\/ is accepted only for a loopback host/
  ]
]

describe('a bad input stops the step before any request', () => {
  test.concurrent.each(rows)('%s', async (_name, inputs, message) => {
    await withSimulators(undefined, async (sims) => {
      const result = await run(sims, { inputs })

      expect(result.code).toBe(1)
      expect(annotation(result)?.title).toBe('ThingSpace password rotation: failed-unchanged')
      expect(annotation(result)?.message).toMatch(message)
      expect(annotation(result)?.message).toMatch(/\. Nothing was sent; the password was not changed\.$/)
      expect(result.outputs).toEqual({ result: 'failed-unchanged', rotated: 'false', 'targets-updated': '0' })
      expect(result.summary).toContain('<code>failed-unchanged</code>')
      expect(requestCount(sims)).toEqual({ thingspace: 0, github: 0 })
    })
  })
})
