/**
 * The `targets` grammar: one GitHub secret scope per line.
 *   repo | repo:OWNER/REPO
 *   env:ENVIRONMENT | env:OWNER/REPO/ENVIRONMENT
 *   org:ORG | org:ORG:all | org:ORG:private | org:ORG:selected
 */
export type Visibility = 'all' | 'private' | 'selected'
export const VISIBILITIES: readonly Visibility[] = ['all', 'private', 'selected']

export type Target =
  | { kind: 'repo'; owner: string; repo: string; label: string }
  | { kind: 'env'; owner: string; repo: string; environment: string; label: string }
  | { kind: 'org'; org: string; visibility?: Visibility; label: string }

export interface Repository {
  owner: string
  repo: string
}

const OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/
const REPO = /^[A-Za-z0-9._-]{1,100}$/
const ENVIRONMENT = /^[^/\s][^/]{0,254}$/

export class TargetError extends Error {}

export function parseRepository(value: string, where: string): Repository {
  const parts = value.split('/')
  if (parts.length !== 2 || !OWNER.test(parts[0]) || !REPO.test(parts[1]) || /^\.\.?$/.test(parts[1])) {
    throw new TargetError(`${where}: "${value}" is not OWNER/REPO (letters, digits, "-"; the repository may also use "." and "_")`)
  }
  return { owner: parts[0], repo: parts[1] }
}

function parseLine(line: string, current: Repository | undefined, lineNo: number): Target {
  const where = `line ${lineNo} "${line}"`
  const needCurrent = (): Repository => {
    if (!current)
      throw new TargetError(
        `${where}: this repository is unknown (GITHUB_REPOSITORY is not set); write repo:OWNER/REPO or env:OWNER/REPO/ENVIRONMENT`
      )
    return current
  }
  const colon = line.indexOf(':')
  const kind = colon < 0 ? line : line.slice(0, colon)
  const rest = colon < 0 ? undefined : line.slice(colon + 1)

  switch (kind) {
    case 'repo': {
      const r = rest === undefined ? needCurrent() : parseRepository(rest, where)
      return { kind: 'repo', ...r, label: `repo:${r.owner}/${r.repo}` }
    }
    case 'env': {
      if (!rest) throw new TargetError(`${where}: write env:ENVIRONMENT or env:OWNER/REPO/ENVIRONMENT`)
      const parts = rest.split('/')
      let r: Repository
      let environment: string
      if (parts.length === 1) {
        r = needCurrent()
        environment = parts[0]
      } else if (parts.length === 3) {
        r = parseRepository(`${parts[0]}/${parts[1]}`, where)
        environment = parts[2]
      } else {
        throw new TargetError(`${where}: write env:ENVIRONMENT or env:OWNER/REPO/ENVIRONMENT`)
      }
      if (!ENVIRONMENT.test(environment) || environment !== environment.trim()) {
        throw new TargetError(`${where}: "${environment}" is not an environment name (1-255 characters, no "/", no leading or trailing space)`)
      }
      return { kind: 'env', ...r, environment, label: `env:${r.owner}/${r.repo}/${environment}` }
    }
    case 'org': {
      if (!rest) throw new TargetError(`${where}: write org:ORG or org:ORG:all|private|selected`)
      const [org, visibility, ...extra] = rest.split(':')
      if (!OWNER.test(org)) throw new TargetError(`${where}: "${org}" is not an organization name (letters, digits and "-")`)
      if (extra.length > 0 || (visibility !== undefined && !VISIBILITIES.includes(visibility as Visibility))) {
        throw new TargetError(`${where}: the visibility must be one of ${VISIBILITIES.join(', ')} (or none, to keep the existing one)`)
      }
      return visibility === undefined
        ? { kind: 'org', org, label: `org:${org}` }
        : { kind: 'org', org, visibility: visibility as Visibility, label: `org:${org}:${visibility}` }
    }
    default:
      throw new TargetError(
        `${where}: unknown kind "${kind}"; use repo, repo:OWNER/REPO, env:ENVIRONMENT, env:OWNER/REPO/ENVIRONMENT, org:ORG or org:ORG:all|private|selected`
      )
  }
}

/** The scope a target writes to; two targets with the same scope would write the same secret twice. */
export function scopeKey(t: Target): string {
  switch (t.kind) {
    case 'repo':
      return `repo:${t.owner}/${t.repo}`.toLowerCase()
    case 'env':
      return `env:${t.owner}/${t.repo}`.toLowerCase() + `/${t.environment}`
    case 'org':
      return `org:${t.org}`.toLowerCase()
  }
}

export function parseTargets(text: string, current: Repository | undefined): Target[] {
  const targets: Target[] = []
  const seen = new Map<string, number>()
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const target = parseLine(line, current, index + 1)
    const key = scopeKey(target)
    const first = seen.get(key)
    if (first !== undefined) {
      throw new TargetError(`line ${index + 1} "${line}": ${target.label} is already named on line ${first}; name each target once`)
    }
    seen.set(key, index + 1)
    targets.push(target)
  })
  if (targets.length === 0) throw new TargetError('no target given; write at least one line such as "repo"')
  return targets
}
