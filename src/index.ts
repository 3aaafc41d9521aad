// The action's entry point: it only starts the run. It listens for a cancellation before anything else
// is evaluated (imports run in order), so a signal while the bundle loads reaches run(), which reports.
// The explicit exit stops idle keep-alive sockets and timers from holding the step open once the outputs are written.
import './early-signals.ts'
import { run } from './main.ts'

await run()
process.exit()
