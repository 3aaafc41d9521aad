/**
 * The runner may cancel a step at any moment, even while the action's code is still loading; with no
 * listener, Node ends the process at once, with no outputs and no report. The entry point loads this
 * first, before the run's code (a chunk of its own), and run() takes over what arrived meanwhile.
 */
const early: NodeJS.Signals[] = []
const hold = (signal: NodeJS.Signals): void => void early.push(signal)
process.on('SIGINT', hold)
process.on('SIGTERM', hold)

/** The signals received so far, in order; the caller listens from now on. */
export function takeEarlySignals(): NodeJS.Signals[] {
  process.off('SIGINT', hold)
  process.off('SIGTERM', hold)
  return early.splice(0)
}
