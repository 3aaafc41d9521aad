// Preloaded by the benchmark (node --import): reports the process's peak RSS in KiB on exit.
import { writeSync } from 'node:fs'

process.on('exit', () => {
  if (process.env.RSS_PROBE_FD) writeSync(Number(process.env.RSS_PROBE_FD), `maxrss ${process.resourceUsage().maxRSS}\n`)
  else process.stderr.write(`maxrss ${process.resourceUsage().maxRSS}\n`)
})
