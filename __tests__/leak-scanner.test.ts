/** The scanner itself must catch what it is for; otherwise every scenario's pass means nothing. */
import { describe, expect, test } from '@jest/globals'
import type { ActionRun } from '../simulators/harness.ts'
import { scanForLeaks, type KnownSecret } from './support/leak-scanner.ts'

const secret: KnownSecret = { name: 'password', value: 'S3cret/pa ss"%', input: true }

function fakeRun(stdout: string, files: Partial<ActionRun['files']> = {}): ActionRun {
  const all = { output: '', summary: '', state: '', env: '', ...files }
  return { code: 0, signal: null, stdout, stderr: '', outputs: {}, summary: all.summary, files: all, wallMs: 0, spawnedAt: 0 }
}

const mask = '::add-mask::S3cret/pa ss"%25'

describe('the leak scanner', () => {
  test('passes a clean run', () => {
    expect(scanForLeaks(fakeRun(`${mask}\nReading 1 target\n`), [secret])).toEqual([])
  })

  test.each([
    ['itself', 'S3cret/pa ss"%'],
    ['base64', Buffer.from('S3cret/pa ss"%').toString('base64')],
    ['URL-encoded', encodeURIComponent('S3cret/pa ss"%')],
    ['form-encoded', 'S3cret%2Fpa+ss%22%25'],
    ['JSON-escaped', 'S3cret/pa ss\\"%']
  ])('finds the secret as %s in the log', (_form, text) => {
    expect(scanForLeaks(fakeRun(`${mask}\nbody: {"p":"${text}"}\n`), [secret])).toHaveLength(1)
  })

  test.each(['output', 'summary', 'state', 'env'] as const)('finds the secret in the %s file', (file) => {
    expect(scanForLeaks(fakeRun(mask, { [file]: `x=S3cret/pa ss"%` }), [secret])[0]).toContain('appears in')
  })

  test('accepts the escaped mask of a multi-line secret, and finds any one of its lines', () => {
    const multiLine: KnownSecret = { name: 'new', value: 'first line\r\nsecond line' }
    const escapedMask = '::add-mask::first line%0D%0Asecond line'
    expect(scanForLeaks(fakeRun(`${escapedMask}\nstored\n`), [multiLine])).toEqual([])
    expect(scanForLeaks(fakeRun(`${escapedMask}\nvalue: second line\n`), [multiLine])).toEqual([
      'new (as "an encoded form") appears in log: value: <secret>'
    ])
  })

  test('flags a secret never masked, and a mask that came late', () => {
    expect(scanForLeaks(fakeRun('hello\n'), [secret])).toEqual(['password was never masked'])
    expect(scanForLeaks(fakeRun(`Reading 1 target\n${mask}\n`), [secret])[0]).toContain('masked only after')
    const late: KnownSecret = { name: 'new', value: 'NewPassw0rd12', maskBefore: /new password/ }
    expect(scanForLeaks(fakeRun('issued a new password\n::add-mask::NewPassw0rd12\n'), [late])[0]).toContain('masked only after')
  })
})
