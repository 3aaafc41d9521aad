/**
 * The leak scanner: given everything a run left behind (raw stdout and stderr, the output, summary,
 * state and env files), it reports every secret, or encoded form of one, found outside an
 * `::add-mask::` line, every secret that was never masked, and every mask that came too late.
 */
import type { ActionRun } from '../../simulators/harness.ts'

export interface KnownSecret {
  name: string
  value: string
  /** When set, the mask must come before the first log line matching this (the moment it arrived). */
  maskBefore?: RegExp
  /** Secret inputs: masked before the first line that is not a mask at all. */
  input?: boolean
  /** False for a value this run never received (issued to an earlier run): it must only never appear. */
  mustMask?: boolean
}

/** The forms a secret takes in headers, bodies, URLs and JSON. */
export function derivedForms(value: string): string[] {
  const forms = new Set([
    value,
    Buffer.from(value, 'utf8').toString('base64'),
    Buffer.from(value, 'utf8').toString('base64url'),
    encodeURIComponent(value),
    new URLSearchParams({ v: value }).toString().slice(2),
    JSON.stringify(value).slice(1, -1)
  ])
  // A log is read line by line: each line of a multi-line value is a leak on its own.
  for (const line of value.split(/\r?\n|\r/)) if (line !== value) forms.add(line)
  // Base64 of a value inside a longer text shifts with its offset; the unpadded core is what stays.
  return [...new Set([...forms].map((f) => f.replace(/=+$/, '')))].filter((f) => f.length >= 6)
}

export function scanForLeaks(run: ActionRun, secrets: KnownSecret[]): string[] {
  const problems: string[] = []
  const log = `${run.stdout}\n${run.stderr}`.split('\n')
  const isMask = (line: string): boolean => line.startsWith('::add-mask::')
  const firstPlain = log.findIndex((line) => line.trim() !== '' && !isMask(line))
  const places: [string, string[]][] = [
    ['log', log.filter((line) => !isMask(line))],
    ['GITHUB_OUTPUT', run.files.output.split('\n')],
    ['GITHUB_STEP_SUMMARY', run.files.summary.split('\n')],
    ['GITHUB_STATE', run.files.state.split('\n')],
    ['GITHUB_ENV', run.files.env.split('\n')]
  ]
  for (const secret of secrets) {
    for (const form of derivedForms(secret.value)) {
      for (const [place, lines] of places) {
        const hit = lines.find((line) => line.includes(form))
        if (hit !== undefined)
          problems.push(
            `${secret.name} (as "${form === secret.value ? 'itself' : 'an encoded form'}") appears in ${place}: ${hit.slice(0, 80).replace(form, '<secret>')}`
          )
      }
    }
    const escaped = secret.value.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
    const maskAt = log.indexOf(`::add-mask::${escaped}`)
    if (maskAt < 0) {
      if (secret.mustMask === false) continue
      problems.push(`${secret.name} was never masked`)
      continue
    }
    if (secret.input && firstPlain >= 0 && maskAt > firstPlain)
      problems.push(`${secret.name} was masked only after the log line "${log[firstPlain]}"`)
    if (secret.maskBefore) {
      const arrived = log.findIndex((line) => secret.maskBefore!.test(line))
      if (arrived >= 0 && maskAt > arrived) problems.push(`${secret.name} was masked only after "${log[arrived]}"`)
    }
  }
  return problems
}
