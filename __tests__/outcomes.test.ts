/**
 * The verdict builders whose branches the flow tests do not reach (input errors, unexpected errors
 * before and after the reset), and the exact wording of what was sent, of the lockout record (runs
 * nobody started by hand, a legacy marker), of what overlapping rotations leave (a refused login while
 * the secret moved, a refused reset, a superseded password), and of a new password whose stores failed,
 * had not finished or were written again.
 */
import { describe, expect, test } from '@jest/globals'
import { contacted, verdicts } from '../src/outcomes.ts'
import { ThingSpaceError } from '../src/thingspace.ts'

describe('contacted', () => {
  test.each([
    { tokenRequested: false, loginSent: false, said: 'ThingSpace was not contacted' },
    { tokenRequested: true, loginSent: false, said: 'no login was attempted (only the OAuth token was requested)' },
    { tokenRequested: true, loginSent: true, said: 'a login was attempted' },
    { tokenRequested: false, loginSent: true, said: 'a login was attempted' }
  ])('token requested $tokenRequested, login sent $loginSent: $said', ({ tokenRequested, loginSent, said }) => {
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
    // Nobody can read a new password, if there is one: the summary lists the commands that store one set by hand.
    expect(v).toMatchObject({ result: 'failed-unknown', ok: false, restoreByHand: true })
    expect(v.message).toContain('An unexpected error after the reset request was sent (a string thrown)')
  })

  test('a failure before the reset, with a login sent', () => {
    expect(verdicts.failedBeforeReset(new Error('x'), true, true).message).toBe('The password was not changed, and a login was attempted: x')
  })
})

const refusal = new ThingSpaceError('login', 'refused', 'answered 400, REQUEST_FAILED.X: no', { status: 400, code: 'REQUEST_FAILED.X' })
const lost = new ThingSpaceError('login', 'lost', 'the connection failed before an answer came (ECONNRESET)')
const odd = new ThingSpaceError('login', 'unrecognised', "answered 401 in a shape ThingSpace's documents do not give", { status: 401 })

describe('the lockout wording', () => {
  test.each([
    { name: 'a record of this version', legacy: false, recordName: 'P_ROTATION' },
    { name: 'the marker of an earlier version', legacy: true, recordName: 'P_REJECTED' }
  ])('the stop names runs nobody started by hand, and the secret that holds the record: $name', ({ legacy, recordName }) => {
    const decision = { kind: 'stop' as const, recordedAt: new Date('2025-06-01T00:00:00.000Z'), legacy }
    expect(verdicts.lockoutStop(decision, recordName, 'repo:o/r', { name: 'P', where: 'in any target' }, true)).toEqual({
      result: 'failed-unchanged',
      ok: false,
      message:
        'The password was not changed, and no login was attempted (only the OAuth token was requested): a login with this password was refused, or may have been counted without an answer, at 2025-06-01T00:00:00.000Z ' +
        `(recorded in the ${recordName} secret of repo:o/r), and P has not been updated in any target since. ` +
        'Another failed login would count toward the 5-failure lockout, so runs nobody started by hand stop here. Store the current password in P (or start the workflow by hand to try once).'
    })
  })

  const spent = { username: 'u', recordName: 'P_ROTATION', home: 'repo:o/r', secretName: 'P', standby: false }
  const TAIL = 'Store the current password in P (a failed login in the ThingSpace portal also counts toward the lockout) before running again.'
  test.each([
    {
      name: 'a refused login, with the time of the last store',
      error: refusal,
      attempts: 1,
      storedAt: Date.parse('2025-05-01T00:00:00.000Z'),
      said:
        'ThingSpace refused the login for u (ThingSpace login: answered 400, REQUEST_FAILED.X: no); it was not retried. 5 consecutive failed logins lock the username until Verizon M2M support unlocks it. ' +
        'Runs nobody started by hand will not log in again until P is updated (recorded in P_ROTATION of repo:o/r). ' +
        'P was last stored at 2025-05-01T00:00:00.000Z: most likely the password changed after that and the new one never reached the secret (a run that ended failed-unknown, a reset in the ThingSpace portal), or the secret holds a wrong password. '
    },
    {
      name: 'an answer in an unknown shape is taken as a refusal',
      error: odd,
      attempts: 1,
      storedAt: Date.parse('2025-05-01T00:00:00.000Z'),
      said:
        "ThingSpace refused the login for u (ThingSpace login: answered 401 in a shape ThingSpace's documents do not give); it was not retried. 5 consecutive failed logins lock the username until Verizon M2M support unlocks it. " +
        'Runs nobody started by hand will not log in again until P is updated (recorded in P_ROTATION of repo:o/r). ' +
        'P was last stored at 2025-05-01T00:00:00.000Z: most likely the password changed after that and the new one never reached the secret (a run that ended failed-unknown, a reset in the ThingSpace portal), or the secret holds a wrong password. '
    },
    {
      name: 'one lost answer',
      error: lost,
      attempts: 1,
      storedAt: 1,
      said:
        'the login for u got no usable answer (ThingSpace login: the connection failed before an answer came (ECONNRESET)) after 1 attempt, and ThingSpace may have counted it as a failed login. 5 consecutive failed logins lock the username until Verizon M2M support unlocks it. ' +
        'Runs nobody started by hand will not log in again until P is updated (recorded in P_ROTATION of repo:o/r). '
    },
    {
      name: 'two lost answers',
      error: lost,
      attempts: 2,
      storedAt: 1,
      said:
        'the login for u got no usable answer (ThingSpace login: the connection failed before an answer came (ECONNRESET)) after 2 attempts, and ThingSpace may have counted each as a failed login. 5 consecutive failed logins lock the username until Verizon M2M support unlocks it. ' +
        'Runs nobody started by hand will not log in again until P is updated (recorded in P_ROTATION of repo:o/r). '
    }
  ])('a login that may have counted: $name', ({ error, attempts, storedAt, said }) => {
    expect(verdicts.loginSpent(error, { ...spent, attempts, storedAt })).toEqual({
      result: 'failed-unchanged',
      ok: false,
      message: `The password was not changed by this run: ${said}${TAIL}`
    })
  })

  // Fixed on core (it read "no target holds P yet: most likely the password changed after that").
  test('a refused login before any target holds the secret points at the password input, not at a change after a store', () => {
    const v = verdicts.loginSpent(refusal, { ...spent, attempts: 1, storedAt: 0 })
    expect(v.message).toContain(
      '(recorded in P_ROTATION of repo:o/r). No target holds P yet: check the password input. Store the current password in P'
    )
    expect(v.message).not.toContain('changed after that')
  })

  test('with alternating usernames, a refused standby login before the home target holds its secret points at the standby-password input', () => {
    const v = verdicts.loginSpent(refusal, { ...spent, secretName: 'P_STANDBY', attempts: 1, storedAt: 0, standby: true })
    expect(v.message).toContain(
      '(recorded in P_ROTATION of repo:o/r). repo:o/r holds no P_STANDBY yet: check the standby-password input. Store the current password in P_STANDBY'
    )
  })

  test.each([
    { name: 'no earlier login counted', earlier: 0, said: 'No failed login was counted, so a new run may try again.' },
    {
      name: 'an earlier login of the run may have counted',
      earlier: 1,
      said: 'An earlier login of this run may have been counted toward the lockout (recorded in P_ROTATION).'
    }
  ])('a login that never reached the user service: $name', ({ earlier, said }) => {
    const gateway = new ThingSpaceError('login', 'gateway', 'answered 403, gateway fault 900908: Invalid Credentials', { status: 403 })
    expect(verdicts.loginFailed(gateway, earlier, 'P_ROTATION')).toEqual({
      result: 'failed-unchanged',
      ok: false,
      message: `The password was not changed: ThingSpace login: answered 403, gateway fault 900908: Invalid Credentials. ${said}`
    })
  })
})

describe('what overlapping rotations leave', () => {
  test('a login refused while the password secret moved: unknown, and no record of it', () => {
    expect(verdicts.loginRefusedSecretMoved(refusal, 'u', ['repo:o/r', 'org:o'], 'P')).toEqual({
      result: 'failed-unknown',
      ok: false,
      message:
        'This run did not change the password, but another rotation did while it ran: ThingSpace refused the login for u with the password this job read (ThingSpace login: answered 400, REQUEST_FAILED.X: no), ' +
        'and meanwhile P was updated in repo:o/r, org:o. This run wrote nothing to P and recorded no failed login for the password it holds now. ' +
        "The other run's result says whether the new password is stored in every target."
    })
  })

  test('a reset refused right after a login with the same password: unknown, nothing written, nothing recorded', () => {
    const reset = new ThingSpaceError('reset', 'refused', 'answered 400, REQUEST_FAILED.PasswordMismatch: no', { status: 400 })
    expect(verdicts.resetRefusedAfterLogin(reset, 'u', 'P')).toEqual({
      result: 'failed-unknown',
      ok: false,
      message:
        'This run did not change the password: ThingSpace refused its reset (ThingSpace password reset: answered 400, REQUEST_FAILED.PasswordMismatch: no) right after a login as u with the same password succeeded, ' +
        'which most likely means another rotation changed the password meanwhile. This run wrote nothing to P and recorded no failed login. ' +
        "The other run's result says whether the new password is stored in every target; if no run rotated it, log in to the ThingSpace portal before running again."
    })
  })

  const base = {
    laterWritten: [] as string[],
    recorded: { recorded: false } as { recorded: boolean; why?: string },
    recordName: 'P_ROTATION',
    home: 'a'
  }
  const HEAD =
    "most likely another rotation reset the password again after this one, and targets that hold this run's password hold one that no longer works."
  const FOOT =
    "Check the other run's result; if no run rotated it, log in to the ThingSpace portal as the user, set a known password and store it in every target."
  test.each([
    {
      name: 'stored everywhere, recorded',
      s: { holders: undefined, recorded: { recorded: true } },
      where: 'stored in every target',
      then: ` Runs nobody started by hand will not log in until the password secret is updated (recorded in P_ROTATION of a).`
    },
    {
      name: 'stored in some, recording failed',
      s: { holders: ['a'], recorded: { recorded: false, why: '403 Forbidden' } },
      where: 'stored only in a',
      then: ' Recording that login in P_ROTATION failed (403 Forbidden).'
    },
    {
      name: 'stored in none, one written again',
      s: { holders: [], laterWritten: ['b'] },
      where: 'stored in no target',
      then: " b was written again after this run's store."
    },
    {
      name: 'two written again, not recorded',
      s: { holders: ['a'], laterWritten: ['b', 'c'] },
      where: 'stored only in a',
      then: " b, c were written again after this run's store."
    }
  ])('a superseded rotation never says rotated: $name', ({ s, where, then }) => {
    expect(verdicts.superseded(refusal, { ...base, ...s })).toEqual({
      result: 'failed-unknown',
      ok: false,
      message: `The password was changed by this run and ${where}, but the verify login with it was then refused (ThingSpace login: answered 400, REQUEST_FAILED.X: no; not retried): ${HEAD}${then} ${FOOT}`
    })
  })
})

describe('a reset whose outcome is unknown', () => {
  const HEAD =
    'The reset request was sent, but its outcome cannot be known (no answer within 60 s). The old password may no longer work, and the new one, if any, was never received. ' +
    'Recorded in P_RESET_UNKNOWN of repo:o/r: the next run is due whatever min-age-days says and logs in once to find out; a refused login counts toward the 5-failure lockout, so do not start runs to check. '
  const RECORDED = { recordName: 'P_RESET_UNKNOWN', stateName: 'P_ROTATION', home: 'repo:o/r' }
  test('failed-unknown: recorded for the next run, a password to be set by hand in every target', () => {
    expect(verdicts.resetUnknown('no answer within 60 s', 'u', undefined, RECORDED)).toEqual({
      result: 'failed-unknown',
      ok: false,
      restoreByHand: true,
      message: `${HEAD}Log in to the ThingSpace portal as u (or ask Verizon M2M support), set a known password, and store it in every target by hand.`
    })
  })

  // Alternating usernames: only the standby's password may have changed, and only the home target's standby
  // secret holds it; consumers keep the active pair, so nothing is restored in the targets. Was a BUG at
  // fb638df ("store it in every target by hand", which pairs the active username with the standby's password);
  // fixed on core (997e1bd).
  test('with alternating usernames: failed-unknown, a password to be set by hand in the standby secret only, consumers unaffected', () => {
    expect(verdicts.resetUnknown('no answer within 60 s', 'u-b', { secretName: 'P_STANDBY', home: 'repo:o/r' }, RECORDED)).toEqual({
      result: 'failed-unknown',
      ok: false,
      restoreByHand: false,
      message:
        `${HEAD}Consumers are not affected: they use the other username. ` +
        'Log in to the ThingSpace portal as u-b (or ask Verizon M2M support), set a known password, and store it in P_STANDBY of repo:o/r.'
    })
  })

  test.each([
    { name: 'one username', standby: undefined, secret: 'the password secret' },
    { name: 'alternating usernames', standby: { secretName: 'P_STANDBY', home: 'repo:o/r' }, secret: 'P_STANDBY' }
  ])('the lost reset could not be recorded: the login record stays, and the message says so ($name)', ({ standby, secret }) => {
    const v = verdicts.resetUnknown('no answer within 60 s', 'u', standby, { ...RECORDED, failed: '403 Forbidden' })
    expect(v.message).toContain(
      "Recording that in P_RESET_UNKNOWN failed (403 Forbidden), so the record of this run's login stays in P_ROTATION of repo:o/r: " +
        `runs nobody started by hand will not log in until ${secret} is updated. `
    )
  })
})

describe('alternating usernames', () => {
  test.each([
    {
      name: 'one username, verified',
      verified: true,
      swap: undefined,
      said: 'The password was changed and the new one is stored in every target, and it logs in.'
    },
    {
      name: 'one username, not verified',
      verified: false,
      swap: undefined,
      said: 'The password was changed and the new one is stored in every target.'
    },
    {
      name: 'the pair swapped, verified',
      verified: true,
      swap: { active: 'u-b', standby: 'u-a' },
      said:
        'The password of u-b was changed, and u-b with its new password is now the active pair in every target (it logs in); ' +
        'u-a, unchanged and still valid, is the standby, so copies of it keep working until the next rotation.'
    },
    {
      name: 'the pair swapped, not verified',
      verified: false,
      swap: { active: 'u-b', standby: 'u-a' },
      said:
        'The password of u-b was changed, and u-b with its new password is now the active pair in every target; ' +
        'u-a, unchanged and still valid, is the standby, so copies of it keep working until the next rotation.'
    }
  ])('rotated ($name)', ({ verified, swap, said }) => {
    expect(verdicts.rotated(verified, swap)).toEqual({ result: 'rotated', ok: true, message: said })
  })

  test.each([
    { tokenRequested: true, contact: 'no login was attempted (only the OAuth token was requested)' },
    { tokenRequested: false, contact: 'ThingSpace was not contacted' }
  ])(
    'a reset that could break consumers is refused, each problem on its own line (token requested $tokenRequested)',
    ({ tokenRequested, contact }) => {
      expect(verdicts.pairsDisagree(['repo:o/r: U names u-b', 'env:o/r/e did not get the pair'], 'u-b', tokenRequested)).toEqual({
        result: 'failed-unchanged',
        ok: false,
        message:
          `The password was not changed, and ${contact}: resetting u-b now could break the consumers of some target.\n` +
          'repo:o/r: U names u-b\nenv:o/r/e did not get the pair\n' +
          'Store the active pair in those targets (the summary of the rotation that stored it lists the commands), or remove them from the targets, then run again.'
      })
    }
  )
})

describe('verdicts that say what was and was not written', () => {
  test.each([
    { name: 'the job', of: 'job' as const, said: 'after this job started' },
    { name: 'the workflow run (the job was not found)', of: 'run' as const, said: 'after this workflow run started' }
  ])('stale input admits doubt and names when the secrets were read: $name', ({ of, said }) => {
    expect(verdicts.staleInput(['repo:o/r'], 'P', { at: new Date('2025-06-01T00:00:00.000Z'), of }, false)).toEqual({
      result: 'failed-unknown',
      ok: false,
      message:
        `This run did not change the password, and ThingSpace was not contacted: repo:o/r had P updated ${said} (2025-06-01T00:00:00.000Z), ` +
        'so another rotation (or a person) replaced the password this job read. Logging in with the old one could count toward the 5-failure lockout. ' +
        "That rotation's result says whether the new password is stored in every target; a new workflow run reads the current secret."
    })
  })

  test.each([
    {
      name: 'a young record in the home target',
      recordedAt: new Date('2025-06-01T00:00:00.000Z'),
      said: 'another run wrote P_ROTATION to repo:o/r at 2025-06-01T00:00:00.000Z (a run records its login there before sending it), and no new password has been stored since'
    },
    { name: 'a proof written over', recordedAt: undefined, said: 'another run wrote P_ROTATION to repo:o/r after this run read it' }
  ])('another run at work ($name): failed-unknown, no login sent', ({ recordedAt, said }) => {
    expect(verdicts.anotherRunAtWork({ recordedAt, recordName: 'P_ROTATION', where: 'repo:o/r' })).toEqual({
      result: 'failed-unknown',
      ok: false,
      message:
        `This run did not change the password and sent no login: ${said}, so another rotation of this username may be at work right now (or one failed moments ago). ` +
        'Its result says what happened. If no other run is under way, wait 10 minutes and start the workflow again: a run started by hand then logs in once.'
    })
  })

  test('a failed write proof names the rotation-state secret, not the password secret', () => {
    expect(verdicts.proofFailed(['Failed to write P_ROTATION to a: 403 Forbidden'], 'P_ROTATION', true)).toEqual({
      result: 'failed-unchanged',
      ok: false,
      message:
        'The password was not changed, and no login was attempted (only the OAuth token was requested): not every target accepted a write of P_ROTATION (the proof that its secrets can be written), so nothing irreversible was tried.\nFailed to write P_ROTATION to a: 403 Forbidden'
    })
  })

  test('a dry run says nothing a consumer reads was written', () => {
    expect(verdicts.dryRun('P_ROTATION')).toEqual({
      result: 'dry-run',
      ok: true,
      message:
        'Dry run: the login with the password this job read succeeded, and every target accepted a write of P_ROTATION. The password was not changed, and nothing a consumer reads was written.'
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
    laterWritten: undefined as string[] | undefined,
    recoveryCiphertext: undefined as string | undefined,
    recoveryKeyGiven: false
  }
  const LATER = 'Written again after this run stored it (by another rotation or by hand; the value there may not log in)'
  const ESCROW =
    'It is in the recovery-ciphertext output and the job summary, sealed to your recovery key: the summary lists the commands that open it (`node dist/recovery/index.js open --key-file`) and store it in each target that lacks it.'
  const STANDBY = (why: string) =>
    `The previous pair (u-a, whose password was not changed and still works) could not be kept as the standby in a (${why}): `
  const VERIFY =
    'the verify login with the new password failed (ThingSpace login: the connection failed before an answer came (ECONNRESET)); it was not retried.'

  // By hand only where some target lacks the new password and nobody can read it: without the escrow, the
  // summary lists the commands that store one set in the portal. A lost standby alone needs none (was a BUG
  // at fb638df: restoreByHand whenever there was no ciphertext; fixed on core, 997e1bd).
  test.each([
    {
      name: 'stored in some, failed in one',
      restoreByHand: true,
      s: { holders: ['a', 'b'], failed: ['c'] },
      said: 'The new password is stored only in a, b. Not stored in: c. No recovery-public-key was given, so there is no recovery-ciphertext. Workflows can still use the secret in the targets that hold it.'
    },
    {
      name: 'stored in some, unknown in one',
      restoreByHand: true,
      s: { holders: ['a'], unknown: ['b'] },
      said: `The new password is confirmed stored only in a. ${UNKNOWN}: b. No recovery-public-key was given, so there is no recovery-ciphertext. Workflows can still use the secret in the targets that hold it.`
    },
    {
      name: 'stored nowhere, every write failed',
      restoreByHand: true,
      s: { failed: ['a', 'b'] },
      said: `The new password is stored in no target. Not stored in: a, b. No recovery-public-key was given, so there is no recovery-ciphertext. ${LOST}`
    },
    {
      name: 'stored nowhere confirmed, one write failed and one unknown',
      restoreByHand: true,
      s: { failed: ['a'], unknown: ['b'] },
      said: `The new password is confirmed stored in no target. Not stored in: a. ${UNKNOWN}: b. No recovery-public-key was given, so there is no recovery-ciphertext. ${MAYBE_LOST}`
    },
    {
      name: 'stored nowhere confirmed, unknown everywhere, sealing unfinished',
      restoreByHand: true,
      s: { unknown: ['a', 'b'], recoveryKeyGiven: true },
      said: `The new password is confirmed stored in no target. ${UNKNOWN}: a, b. Sealing it to the recovery-public-key did not finish, so there is no recovery-ciphertext. ${MAYBE_LOST}`
    },
    {
      name: 'stored nowhere confirmed, unknown everywhere, escrowed',
      restoreByHand: false,
      s: { unknown: ['a'], recoveryCiphertext: 'c2VhbGVk', recoveryKeyGiven: true },
      said: `The new password is confirmed stored in no target. ${UNKNOWN}: a. ${ESCROW}`
    },
    {
      name: 'stored in one, another written again after the store, escrowed',
      restoreByHand: false,
      s: { holders: ['a'], laterWritten: ['b'], recoveryCiphertext: 'c2VhbGVk', recoveryKeyGiven: true },
      said: `The new password is stored only in a. ${LATER}: b. ${ESCROW} Workflows can still use the secret in the targets that hold it.`
    },
    {
      // Written again everywhere: the new password may be in none, so it is never said to be usable from a target.
      name: 'every target written again, no recovery key',
      restoreByHand: true,
      s: { laterWritten: ['a', 'b'] },
      said: `The new password is stored in no target. ${LATER}: a, b. No recovery-public-key was given, so there is no recovery-ciphertext. ${LOST}`
    },
    // A failed-changed with the new password in every target: the standby pair could not be kept (alternating usernames).
    {
      name: 'stored everywhere, the standby pair not kept, both sealed',
      restoreByHand: false,
      s: {
        holders: ['a', 'b'],
        recoveryCiphertext: 'c2VhbGVk',
        recoveryKeyGiven: true,
        standbyLost: { home: 'a', username: 'u-a', why: '403 Forbidden', ciphertext: 'c3RhbmRieQ==' }
      },
      said: `The new password is stored in every target. ${ESCROW} Workflows can still use the secret in the targets that hold it. ${STANDBY('403 Forbidden')}its password is in the job summary, sealed to your recovery key; store it and the username in the standby pair by hand.`,
      standbyCiphertext: 'c3RhbmRieQ=='
    },
    {
      name: 'stored everywhere, the standby pair not kept, no recovery key',
      restoreByHand: false,
      s: { holders: ['a', 'b'], standbyLost: { home: 'a', username: 'u-a', why: 'the write had not finished', ciphertext: undefined } },
      said: `The new password is stored in every target. No recovery-public-key was given, so there is no recovery-ciphertext. Workflows can still use the secret in the targets that hold it. ${STANDBY('the write had not finished')}store it by hand (reset u-a's password in the ThingSpace portal if nobody has it).`
    },
    // What went wrong with the verify login comes last, whatever else is said.
    {
      name: 'stored in some, and the verify login failed and was recorded',
      restoreByHand: true,
      s: {
        holders: ['a'],
        failed: ['b'],
        verifyProblem: `${VERIFY} Runs nobody started by hand will not log in until the password secret is updated (recorded in P_ROTATION).`
      },
      said: `The new password is stored only in a. Not stored in: b. No recovery-public-key was given, so there is no recovery-ciphertext. Workflows can still use the secret in the targets that hold it. Also, ${VERIFY} Runs nobody started by hand will not log in until the password secret is updated (recorded in P_ROTATION).`
    }
  ] as {
    name: string
    restoreByHand: boolean
    s: Partial<Parameters<typeof verdicts.notStoredEverywhere>[0]>
    said: string
    standbyCiphertext?: string
  }[])('$name (restore by hand: $restoreByHand)', ({ s, said, standbyCiphertext, restoreByHand }) => {
    const v = verdicts.notStoredEverywhere({ ...base, ...s })
    expect(v).toEqual({
      result: 'failed-changed',
      ok: false,
      message: `The password WAS changed: the old one no longer works. ${said}`,
      recoveryCiphertext: s.recoveryCiphertext,
      standbyCiphertext,
      restoreByHand
    })
  })
})
