/**
 * Cancellation on a manual schedule: the deadline after each signal (kill time minus the report
 * margin), the guard before the reset, `enterCritical`, and `untilDeadline`.
 */
import { describe, expect, test } from '@jest/globals'
import { Cancellation, CancelledError, DeadlineReached, KILL_AFTER_MS, REPORT_MARGIN_MS } from '../src/cancellation.ts'
import { FakeClock, START } from './support/fakes.ts'

function setup(): { clock: FakeClock; cancel: Cancellation; deadlineAt: () => number | undefined } {
  const clock = new FakeClock()
  const cancel = new Cancellation(clock.now, clock.schedule)
  let at: number | undefined
  void cancel.deadline.then(() => (at = clock.now()))
  return { clock, cancel, deadlineAt: () => at }
}

/** Never settles: a request that hangs. */
const hang = <T>(): Promise<T> => new Promise<T>(() => {})

describe('the deadline', () => {
  test('the runner kills 10 s after SIGINT and 2.5 s after SIGTERM; the margin is 1 s', () => {
    expect({ KILL_AFTER_MS, REPORT_MARGIN_MS }).toEqual({ KILL_AFTER_MS: { SIGINT: 10_000, SIGTERM: 2_500 }, REPORT_MARGIN_MS: 1_000 })
  })

  test.each<[string, [number, string][], number]>([
    ['SIGINT', [[0, 'SIGINT']], 9_000],
    ['SIGTERM', [[0, 'SIGTERM']], 1_500],
    [
      'SIGINT, then SIGTERM 7.5 s later (the runner)',
      [
        [0, 'SIGINT'],
        [7_500, 'SIGTERM']
      ],
      9_000
    ],
    [
      'SIGINT, then SIGTERM 2 s later',
      [
        [0, 'SIGINT'],
        [2_000, 'SIGTERM']
      ],
      3_500
    ],
    [
      'SIGTERM, then SIGINT',
      [
        [0, 'SIGTERM'],
        [1_000, 'SIGINT']
      ],
      1_500
    ],
    ['an unknown signal (taken as SIGTERM)', [[0, 'SIGHUP']], 1_500],
    [
      'SIGINT twice',
      [
        [0, 'SIGINT'],
        [3_000, 'SIGINT']
      ],
      9_000
    ]
  ])('%s', async (_name, signals, expected) => {
    const { clock, cancel, deadlineAt } = setup()
    for (const [delay, signal] of signals) clock.schedule(delay, () => cancel.receive(signal))
    await clock.advance(60_000)
    expect(deadlineAt()).toBe(START + expected)
    expect(cancel.signalName).toBe(signals[0][1])
  })

  test('no signal: no deadline, and untilDeadline waits for the promise alone', async () => {
    const { clock, cancel, deadlineAt } = setup()
    const settled = clock.drive(cancel.untilDeadline(clock.sleep(120_000).then(() => 'answered')))
    await expect(settled).resolves.toMatchObject({ status: 'fulfilled', value: 'answered', at: START + 120_000 })
    expect(deadlineAt()).toBeUndefined()
    expect(cancel.cancelled).toBe(false)
  })

  test('untilDeadline rejects with DeadlineReached at the deadline', async () => {
    const { clock, cancel } = setup()
    clock.schedule(500, () => cancel.receive('SIGTERM'))
    const settled = await clock.drive(cancel.untilDeadline(hang()))
    expect(settled).toMatchObject({ status: 'rejected', at: START + 2_000 })
    expect((settled as { reason: unknown }).reason).toBeInstanceOf(DeadlineReached)
  })

  test('untilDeadline passes an answer that comes before the deadline', async () => {
    const { clock, cancel } = setup()
    cancel.receive('SIGINT')
    const settled = await clock.drive(cancel.untilDeadline(clock.sleep(8_999).then(() => 'in time')))
    expect(settled).toEqual({ status: 'fulfilled', value: 'in time', at: START + 8_999 })
  })

  test('by default the deadline runs on a real timer, which dispose clears', () => {
    const cancel = new Cancellation()
    cancel.receive('SIGTERM')
    expect(cancel.cancelled).toBe(true)
    cancel.dispose()
  })

  test('dispose cancels the pending deadline', async () => {
    const { clock, cancel, deadlineAt } = setup()
    cancel.receive('SIGTERM')
    cancel.dispose()
    await clock.advance(60_000)
    expect(deadlineAt()).toBeUndefined()
  })
})

describe('before the reset', () => {
  test('guard rejects with CancelledError as soon as a signal arrives', async () => {
    const { clock, cancel } = setup()
    clock.schedule(700, () => cancel.receive('SIGINT'))
    const settled = await clock.drive(cancel.guard(hang()))
    expect(settled).toMatchObject({ status: 'rejected', at: START + 700 })
    expect((settled as { reason: Error }).reason).toBeInstanceOf(CancelledError)
    expect((settled as { reason: Error }).reason.message).toBe('the runner cancelled the step (SIGINT)')
  })

  test('guard rejects at once when the signal came first', async () => {
    const { cancel } = setup()
    cancel.receive('SIGTERM')
    await expect(cancel.guard(Promise.resolve('late'))).rejects.toBeInstanceOf(CancelledError)
  })

  test('guard passes an answer, and an error, when no signal comes', async () => {
    const { cancel } = setup()
    await expect(cancel.guard(Promise.resolve('ok'))).resolves.toBe('ok')
    await expect(cancel.guard(Promise.reject(new Error('refused')))).rejects.toThrow('refused')
  })

  test('a promise that fails after the signal is reported as the cancellation', async () => {
    const { cancel } = setup()
    let fail!: (e: Error) => void
    const guarded = cancel.guard(new Promise((_resolve, reject) => (fail = reject)))
    cancel.receive('SIGINT')
    fail(new Error('connection reset'))
    await expect(guarded).rejects.toBeInstanceOf(CancelledError)
  })

  test('enterCritical throws when a signal already came, and the reset is not marked sent', () => {
    const { cancel } = setup()
    cancel.receive('SIGINT')
    expect(() => cancel.enterCritical()).toThrow(CancelledError)
    expect(cancel.resetSent).toBe(false)
  })
})

describe('after the reset was sent', () => {
  test('enterCritical marks the reset sent; a later signal no longer aborts the guard, but sets the deadline', async () => {
    const { clock, cancel, deadlineAt } = setup()
    cancel.enterCritical()
    expect(cancel.resetSent).toBe(true)
    cancel.receive('SIGINT')
    expect(cancel.signal.aborted).toBe(false)
    expect(cancel.cancelled).toBe(true)
    await expect(cancel.guard(Promise.resolve('stored'))).resolves.toBe('stored')
    await clock.advance(10_000)
    expect(deadlineAt()).toBe(START + 9_000)
  })
})
