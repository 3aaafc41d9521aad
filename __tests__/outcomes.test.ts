/**
 * The verdict builders whose branches the flow tests do not reach: input errors, unexpected errors
 * before and after the reset, and the wording of what was sent.
 */
import { describe, expect, test } from '@jest/globals'
import { contacted, verdicts } from '../src/outcomes.ts'

describe('contacted', () => {
  test.each([
    [false, false, 'ThingSpace was not contacted'],
    [true, false, 'no login was attempted (only the OAuth token was requested)'],
    [true, true, 'a login was attempted'],
    [false, true, 'a login was attempted']
  ])('token requested %s, login sent %s: %s', (tokenRequested, loginSent, said) => {
    expect(contacted(tokenRequested, loginSent)).toBe(said)
  })
})

describe('verdicts the flow does not build', () => {
  test('an input error: nothing was sent', () => {
    expect(verdicts.inputError('Input "targets": no target given')).toEqual({
      result: 'failed-unchanged',
      ok: false,
      message: 'Input "targets": no target given. Nothing was sent; the password was not changed.'
    })
  })

  test('an unexpected error before the reset: unchanged', () => {
    expect(verdicts.unexpected(new Error('boom'), false)).toEqual({
      result: 'failed-unchanged',
      ok: false,
      message: 'The password was not changed: an unexpected error before the reset was sent (boom).'
    })
  })

  test('an unexpected error after the reset was sent: unknown, never unchanged', () => {
    const v = verdicts.unexpected('a string thrown', true)
    expect(v).toMatchObject({ result: 'failed-unknown', ok: false })
    expect(v.message).toContain('An unexpected error after the reset request was sent (a string thrown)')
  })

  test('a failure before the reset, with a login sent', () => {
    expect(verdicts.failedBeforeReset(new Error('x'), true, true).message).toBe('The password was not changed, and a login was attempted: x')
  })

  test('a login that may have counted, recorded without a reason for a failed record', () => {
    const error = Object.assign(new Error('ThingSpace login: no answer within 30 s'), { kind: 'timeout' as const, call: 'login' as const })
    const v = verdicts.loginSpent(error as never, 1, 'u', { markerName: 'M', recorded: false })
    expect(v.message).toContain('Recording this in M failed (unknown)')
    expect(v.message).toContain('ThingSpace may have counted it as a failed login')
  })
})
