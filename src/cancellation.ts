/**
 * The runner cancels a step with SIGINT, then SIGTERM 7.5 s later, then SIGKILL 2.5 s after that; a
 * process can also be stopped by SIGTERM alone. From the first signal on, every wait is bounded by a
 * deadline short of the kill, so the outputs, the summary and the error line are always written.
 * Before the reset a signal also abandons the work at once (nothing has changed); once the reset is
 * sent nothing is abandoned early: the new password is stored or escrowed until the deadline.
 */
export class CancelledError extends Error {
  constructor(signal: string) {
    super(`the runner cancelled the step (${signal})`)
    this.name = 'CancelledError'
  }
}

export class DeadlineReached extends Error {
  constructor() {
    super('the cancellation deadline passed')
    this.name = 'DeadlineReached'
  }
}

/** How long after each signal the runner kills the process. */
export const KILL_AFTER_MS: Record<string, number> = { SIGINT: 10_000, SIGTERM: 2_500 }
/** Kept free before the kill to write outputs, summary and the error line. */
export const REPORT_MARGIN_MS = 1_000

/** Runs `fn` after `ms`; returns a function that cancels it. */
export type Schedule = (ms: number, fn: () => void) => () => void

const realSchedule: Schedule = (ms, fn) => {
  const timer = setTimeout(fn, ms)
  return () => clearTimeout(timer)
}

export class Cancellation {
  private readonly controller = new AbortController()
  private readonly now: () => number
  private readonly schedule: Schedule
  private resetSentFlag = false
  private deadlineAt: number | undefined
  private cancelTimer: () => void = () => {}
  private reachDeadline!: () => void
  /** Resolves when the deadline passes; never before a signal. */
  readonly deadline: Promise<void>
  signalName: string | undefined

  constructor(now: () => number = Date.now, schedule: Schedule = realSchedule) {
    this.now = now
    this.schedule = schedule
    this.deadline = new Promise((resolve) => (this.reachDeadline = resolve))
  }

  get signal(): AbortSignal {
    return this.controller.signal
  }

  /** True from the moment the reset is sent: nothing after that may claim "unchanged". */
  get resetSent(): boolean {
    return this.resetSentFlag
  }

  get cancelled(): boolean {
    return this.signalName !== undefined
  }

  receive(signal: string): void {
    this.signalName ??= signal
    if (!this.resetSentFlag && !this.controller.signal.aborted) this.controller.abort(new CancelledError(signal))
    const at = this.now() + (KILL_AFTER_MS[signal] ?? KILL_AFTER_MS.SIGTERM) - REPORT_MARGIN_MS
    if (this.deadlineAt !== undefined && this.deadlineAt <= at) return
    this.deadlineAt = at
    this.cancelTimer()
    this.cancelTimer = this.schedule(Math.max(0, at - this.now()), this.reachDeadline)
  }

  /** Called right before the reset is sent: a cancellation that came first stops the run here. */
  enterCritical(): void {
    this.controller.signal.throwIfAborted()
    this.resetSentFlag = true
  }

  /** Settles like `promise`, or rejects with CancelledError as soon as a signal arrives before the reset. */
  guard<T>(promise: Promise<T>): Promise<T> {
    const signal = this.controller.signal
    if (signal.aborted) return Promise.reject(signal.reason as Error)
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason as Error)
      signal.addEventListener('abort', onAbort, { once: true })
      promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort)
          resolve(value)
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort)
          reject((signal.aborted ? signal.reason : error) as Error)
        }
      )
    })
  }

  /** Whether the deadline has passed: nothing more is sent after it. */
  get pastDeadline(): boolean {
    return this.deadlineAt !== undefined && this.now() >= this.deadlineAt
  }

  /** Settles like `promise`, or rejects with DeadlineReached once the deadline passes. */
  untilDeadline<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.deadline.then(() => Promise.reject(new DeadlineReached()))])
  }

  dispose(): void {
    this.cancelTimer()
  }
}
