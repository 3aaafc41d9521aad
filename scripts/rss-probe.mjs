// Preloaded by the benchmark (node --import): on exit, reports the process's peak RSS in KiB and the CPU
// time it used in µs (user, system), on stderr or the file descriptor RSS_PROBE_FD names.
import { writeSync } from 'node:fs'

process.on('exit', () => {
  const { maxRSS, userCPUTime, systemCPUTime } = process.resourceUsage()
  const line = `maxrss ${maxRSS} user ${userCPUTime} system ${systemCPUTime}\n`
  if (process.env.RSS_PROBE_FD) writeSync(Number(process.env.RSS_PROBE_FD), line)
  else process.stderr.write(line)
})
