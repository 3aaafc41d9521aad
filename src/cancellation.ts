/**
 * The runner cancels a step with SIGINT, then SIGTERM 7.5 s later, then SIGKILL 2.5 s after that.
 * Before the reset a signal aborts the run at once (nothing has changed). From the moment the reset
 * is sent a signal no longer aborts anything: it sets a deadline, short of SIGKILL, by which the new
 * password must be stored or escrowed and the outputs written.
 */
export class CancelledError extends Error {
  constructor(signal: string) {
    super(`the run was cancelled (${signal})`)
    this.name = 'CancelledError'
  }
}

/** How long after each signal the run may keep working once the reset is sent. */
const GRACE_MS: Record<string, number> = { SIGINT: 8000, SIGTERM: 1500 }

export class Cancellation {
  private readonly controller = new AbortController()
  private critical = false
  private deadlineAt: number | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  private reachDeadline!: () => void
  /** Resolves when the post-reset deadline passes; never before a signal. */
  readonly deadline: Promise<void>
  signalName: string | undefined
  private readonly now: () => number

  constructor(now: () => number = Date.now) {
    this.now = now
    this.deadline = new Promise((resolve) => (this.reachDeadline = resolve))
  }

  get signal(): AbortSignal {
    return this.controller.signal
  }

  /** True from the moment the reset is about to be sent: nothing after that may claim "unchanged". */
  get resetSent(): boolean {
    return this.critical
  }

  get cancelled(): boolean {
    return this.signalName !== undefined
  }

  receive(signal: string): void {
    this.signalName ??= signal
    if (!this.critical) {
      if (!this.controller.signal.aborted) this.controller.abort(new CancelledError(signal))
      return
    }
    const at = this.now() + (GRACE_MS[signal] ?? 1500)
    if (this.deadlineAt !== undefined && this.deadlineAt <= at) return
    this.deadlineAt = at
    clearTimeout(this.timer)
    this.timer = setTimeout(this.reachDeadline, at - this.now())
  }

  /** Called right before the reset is sent: a cancellation that came first stops the run here. */
  enterCritical(): void {
    this.controller.signal.throwIfAborted()
    this.critical = true
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
        (error) => {
          signal.removeEventListener('abort', onAbort)
          reject((signal.aborted ? signal.reason : error) as Error)
        }
      )
    })
  }

  dispose(): void {
    clearTimeout(this.timer)
  }
}
