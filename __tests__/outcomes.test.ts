/**
 * The verdict builders whose branches the flow tests do not reach (input errors, unexpected errors
 * before and after the reset), the wording of what was sent, of the lockout marker (runs nobody
 * started by hand), and of a new password whose stores failed or had not finished.
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

describe('the lockout wording', () => {
  const refusal = Object.assign(new Error('ThingSpace login: answered 400, REQUEST_FAILED.X: no'), {
    kind: 'refused' as const,
    call: 'login' as const
  })

  test('the stop names runs nobody started by hand, not only scheduled ones', () => {
    const v = verdicts.lockoutStop(new Date('2025-06-01T00:00:00.000Z'), 'P_REJECTED', 'repo:o/r', 'P', true)
    expect(v).toEqual({
      result: 'failed-unchanged',
      ok: false,
      message:
        'The password was not changed, and no login was attempted (only the OAuth token was requested): a login with this password was refused, or may have been counted without an answer, at 2025-06-01T00:00:00.000Z ' +
        '(recorded in the P_REJECTED secret of repo:o/r), and P has not been updated in any target since. ' +
        'Another failed login would count toward the 5-failure lockout, so runs nobody started by hand stop here. Store the current password in P (or start the workflow by hand to try once).'
    })
  })

  test.each<[boolean, string | undefined, string]>([
    [true, undefined, 'Runs nobody started by hand will not log in again until the password secret is updated (recorded in M). '],
    [
      false,
      '403 Forbidden',
      "Recording this in M failed (403 Forbidden), so a later run could try again: fix the token's permissions or disable the schedule. "
    ],
    [false, undefined, "Recording this in M failed (unknown), so a later run could try again: fix the token's permissions or disable the schedule. "]
  ])('a refused login, recorded %p (%p)', (recorded, why, said) => {
    const v = verdicts.loginSpent(refusal as never, 1, 'u', { markerName: 'M', recorded, why })
    expect(v.message).toBe(
      `The password was not changed: ThingSpace refused the login for u (ThingSpace login: answered 400, REQUEST_FAILED.X: no); it was not retried. ` +
        `5 consecutive failed logins lock the username until Verizon M2M support unlocks it. ${said}` +
        'Check that the password secret holds the current password (a failed login in the ThingSpace portal also counts toward the lockout) before running again.'
    )
  })

  test.each<[string | undefined, string]>([
    ['Failed to write M to repo:o/r: 403 Forbidden', 'Failed to write M to repo:o/r: 403 Forbidden'],
    [undefined, 'unknown']
  ])('an unattended run that cannot record its login ahead says no login was attempted, and why (%p)', (why, said) => {
    expect(verdicts.markerUnwritable('M', 'repo:o/r', why)).toEqual({
      result: 'failed-unchanged',
      ok: false,
      message:
        'The password was not changed, and no login was attempted (only the OAuth token was requested): a run nobody started by hand records each login in M before sending it, ' +
        `so that a failure it cannot report still stops the next run, and writing M to repo:o/r failed (${said}). ` +
        "Give the github-token write access to the targets' secrets (see the README's token table)."
    })
  })
})

describe('a new password not stored everywhere', () => {
  const LOST = 'The new password is lost: reset the password in the ThingSpace portal (or ask Verizon M2M support) and store it by hand.'
  const MAYBE_LOST =
    'If none of those writes landed, the new password is lost: reset the password in the ThingSpace portal (or ask Verizon M2M support) and store it by hand.'
  const UNKNOWN = "Unknown (no answer came, or the step was cancelled before it did; the write may have landed: check the secret's updated time)"
  const base = {
    holders: [] as string[],
    failed: [] as string[],
    unknown: [] as string[],
    recoveryCiphertext: undefined as string | undefined,
    recoveryKeyGiven: false
  }

  test.each<[string, Partial<typeof base>, string]>([
    [
      'stored in some, failed in one',
      { holders: ['a', 'b'], failed: ['c'] },
      'The new password is stored only in a, b. Not stored in: c. No recovery-public-key was given, so there is no recovery-ciphertext. Workflows can still use the secret in the targets that hold it.'
    ],
    [
      'stored in some, unknown in one',
      { holders: ['a'], unknown: ['b'] },
      `The new password is confirmed stored only in a. ${UNKNOWN}: b. No recovery-public-key was given, so there is no recovery-ciphertext. Workflows can still use the secret in the targets that hold it.`
    ],
    [
      'stored nowhere, every write failed',
      { failed: ['a', 'b'] },
      `The new password is stored in no target. Not stored in: a, b. No recovery-public-key was given, so there is no recovery-ciphertext. ${LOST}`
    ],
    [
      'stored nowhere confirmed, one write failed and one unknown',
      { failed: ['a'], unknown: ['b'] },
      `The new password is confirmed stored in no target. Not stored in: a. ${UNKNOWN}: b. No recovery-public-key was given, so there is no recovery-ciphertext. ${MAYBE_LOST}`
    ],
    [
      'stored nowhere confirmed, unknown everywhere, sealing unfinished',
      { unknown: ['a', 'b'], recoveryKeyGiven: true },
      `The new password is confirmed stored in no target. ${UNKNOWN}: a, b. Sealing it to the recovery-public-key did not finish, so there is no recovery-ciphertext. ${MAYBE_LOST}`
    ],
    [
      'stored nowhere confirmed, unknown everywhere, escrowed',
      { unknown: ['a'], recoveryCiphertext: 'c2VhbGVk', recoveryKeyGiven: true },
      `The new password is confirmed stored in no target. ${UNKNOWN}: a. It is in the recovery-ciphertext output and the job summary, sealed to your recovery key: open it with \`node dist/recovery/index.js open\` and store it in the targets by hand.`
    ]
  ])('%s', (_name, s, said) => {
    const v = verdicts.notStoredEverywhere({ ...base, ...s })
    expect(v).toEqual({
      result: 'failed-changed',
      ok: false,
      message: `The password WAS changed: the old one no longer works. ${said}`,
      recoveryCiphertext: s.recoveryCiphertext
    })
  })
})
