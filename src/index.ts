// The action's entry point: it only starts the run. The explicit exit stops idle keep-alive sockets
// and timers from holding the step open once the outputs are written.
import { run } from './main.ts'

await run()
process.exit()
