/**
 * Outputs, job summary and the step's verdict. Only the result, counts, target names and the sealed
 * recovery ciphertext leave the process; every text is scrubbed of known secrets on the way out.
 */
import * as core from './runner.ts'
import type { Outcome } from './rotation.ts'
import type { SecretMask } from './secrets-mask.ts'

export function setOutputs(outcome: Outcome): void {
  core.setOutput('result', outcome.result)
  core.setOutput('rotated', String(outcome.result === 'rotated'))
  core.setOutput('targets-updated', String(outcome.targets.filter((t) => t.holdsNewPassword).length))
  if (outcome.result === 'failed-changed' && outcome.recoveryCiphertext) core.setOutput('recovery-ciphertext', outcome.recoveryCiphertext)
}

export function renderSummary(outcome: Outcome, mask: SecretMask): string {
  const cell = (text: string): string => mask.redact(text).replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>')
  const lines = [`## ThingSpace password rotation: \`${outcome.result}\``, '', mask.redact(outcome.message).replace(/\r?\n/g, '  \n'), '']
  if (outcome.targets.length > 0) {
    lines.push('| Target | Before this run | This run |', '| --- | --- | --- |')
    for (const t of outcome.targets) lines.push(`| \`${cell(t.label)}\` | ${cell(t.before)} | ${cell(t.outcome)} |`)
    lines.push('')
  }
  if (outcome.result === 'failed-changed' && outcome.recoveryCiphertext) {
    lines.push(
      '### Recovery ciphertext',
      '',
      'The new password, sealed to your `recovery-public-key`. Open it with `node dist/recovery/index.js open` (see the README, "When a rotation fails").',
      '',
      '```',
      outcome.recoveryCiphertext,
      '```',
      ''
    )
  }
  return lines.join('\n')
}

export function report(outcome: Outcome, mask: SecretMask): void {
  setOutputs(outcome)
  try {
    core.appendSummary(renderSummary(outcome, mask))
  } catch (error) {
    core.warning(`Could not write the job summary: ${mask.redact((error as Error)?.message ?? String(error))}`)
  }
  const message = mask.redact(outcome.message)
  if (outcome.ok) core.info(message)
  else core.setFailed(`${outcome.result}: ${message}`)
}
