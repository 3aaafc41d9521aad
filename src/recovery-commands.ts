/**
 * The `gh secret set` command that stores a value in one target exactly where and how the rotation
 * writes it: the same product (`--app`), the same scope (`--repo`, `--env`, `--org`) and, for an
 * organization secret, the same visibility and selected repositories, so running it can never narrow
 * (or widen) who reads the secret. No command carries the value: gh reads it from stdin, or asks for
 * it without echoing when stdin is a terminal.
 *
 * The flags are those of cli/cli's `gh secret set` (pkg/cmd/secret/set/set.go and shared/shared.go):
 * - `--org` without `--visibility` makes the secret private, so the visibility is always spelled out;
 * - `--visibility selected` requires `--repos`, a comma-separated list of names that gh prefixes with
 *   the `--org` (an organization secret can only select that organization's repositories);
 * - `--env` and `--org` exclude each other; `--repo` is `[HOST/]OWNER/REPO`;
 * - `--app` is actions, dependabot or codespaces; environments exist only for Actions, so an
 *   environment command leaves `--app` out (gh would refuse any other app there).
 */
import type { TargetReport } from './outcomes.ts'

/** What a person needs to restore one target: the command, or why there is none to run. */
export type Restore = { label: string; command: string } | { label: string; note: string }

/** POSIX shell quoting: plain words stay as they are; anything else goes in single quotes. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_./:@,+=-]+$/.test(word)) return word
  return `'${word.replace(/'/g, `'\\''`)}'`
}

/** The command that stores a value, read from stdin, in this target's secret `secretName`. */
export function restoreCommand(report: Pick<TargetReport, 'label' | 'target' | 'visibility' | 'selectedRepositories'>, secretName: string): Restore {
  const { label, target } = report
  if (!target) return { label, note: 'the run did not parse this target, so no command can be given' }
  const gh = (...args: string[]): Restore => ({ label, command: ['gh', 'secret', 'set', secretName, ...args].map(shellQuote).join(' ') })
  switch (target.kind) {
    case 'repo':
      return gh('--app', target.app, '--repo', `${target.owner}/${target.repo}`)
    case 'env':
      return gh('--repo', `${target.owner}/${target.repo}`, '--env', target.environment)
    case 'org': {
      const org = ['--app', target.app, '--org', target.org]
      const visibility = report.visibility ?? target.visibility
      if (visibility === undefined) {
        return {
          label,
          note:
            `the run did not learn this secret's visibility; check it in ${target.org}'s settings and pass it as --visibility ` +
            `(gh secret set --org without --visibility makes the secret private)`
        }
      }
      if (visibility !== 'selected') return gh(...org, '--visibility', visibility)
      const repos = report.selectedRepositories ?? []
      if (repos.length === 0) {
        return {
          label,
          note:
            'this secret is visible to selected repositories and none is selected, so no repository reads it; gh cannot keep ' +
            'an empty selection (--visibility selected requires --repos), so leave it until a repository needs it'
        }
      }
      return gh(...org, '--visibility', 'selected', '--repos', repos.join(','))
    }
  }
}

/**
 * The commands for a run that left targets without the live password. With the new password escrowed
 * (a recovery ciphertext), only the targets that lack it need it; without one, nobody can read the new
 * password, so a person sets one in the ThingSpace portal and every target needs that.
 */
export function restoreCommands(targets: TargetReport[], secretName: string, escrowed: boolean): Restore[] {
  return targets
    .filter((t) => !escrowed || !t.holdsNewPassword)
    .map((t) =>
      escrowed && t.writtenAgain
        ? {
            label: t.label,
            note: 'written again after this run stored the new password (another rotation or a person): it may hold a newer one, so check before you restore it'
          }
        : restoreCommand(t, secretName)
    )
}
