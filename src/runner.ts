/**
 * The runner protocol, as much of it as this action speaks: inputs from INPUT_* variables, workflow
 * commands on stdout (add-mask, warning, error), outputs and the job summary through the files the
 * runner names. @actions/core does the same, but loading it costs more than a whole rotation's
 * start-up budget (its OIDC client pulls in undici); __tests__/runner.test.ts holds this module to
 * the same formats as @actions/core.
 */
import { randomUUID } from 'node:crypto'
import { appendFileSync } from 'node:fs'
import { EOL } from 'node:os'

/** What a workflow command's data must escape so that the runner reads it back whole. */
export function escapeData(value: string): string {
  return value.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
}

function command(name: string, message: string): void {
  process.stdout.write(`::${name}::${escapeData(message)}${EOL}`)
}

/** The input as the runner passed it (INPUT_<NAME>, spaces as underscores), trimmed unless asked not to. */
export function getInput(name: string, options: { trimWhitespace?: boolean } = {}): string {
  const value = process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? ''
  return options.trimWhitespace === false ? value : value.trim()
}

export function setSecret(value: string): void {
  command('add-mask', value)
}

export function info(message: string): void {
  process.stdout.write(`${message}${EOL}`)
}

export function warning(message: string): void {
  command('warning', message)
}

export function setFailed(message: string): void {
  process.exitCode = 1
  command('error', message)
}

export function setOutput(name: string, value: string): void {
  const file = process.env.GITHUB_OUTPUT
  if (!file) {
    process.stdout.write(`${EOL}::set-output name=${name}::${escapeData(value)}${EOL}`)
    return
  }
  const delimiter = `ghadelimiter_${randomUUID()}`
  if (name.includes(delimiter) || value.includes(delimiter)) throw new Error(`Unexpected input: the output ${name} contains its delimiter`)
  appendFileSync(file, `${name}<<${delimiter}${EOL}${value}${EOL}${delimiter}${EOL}`, { encoding: 'utf8' })
}

/** Appends Markdown to the job summary; false when the runner gave no summary file (a local run). */
export function appendSummary(markdown: string): boolean {
  const file = process.env.GITHUB_STEP_SUMMARY
  if (!file) return false
  appendFileSync(file, markdown.endsWith(EOL) ? markdown : `${markdown}${EOL}`, { encoding: 'utf8' })
  return true
}
