/**
 * The `targets` grammar: one GitHub secret scope per line.
 *   Actions secrets:     repo | repo:OWNER/REPO | env:ENVIRONMENT | env:OWNER/REPO/ENVIRONMENT
 *                        org:ORG | org:ORG:all | org:ORG:private | org:ORG:selected
 *   Dependabot secrets:  dependabot:repo | dependabot:repo:OWNER/REPO | dependabot:org:ORG[:VISIBILITY]
 *   Codespaces secrets:  codespaces:repo | codespaces:repo:OWNER/REPO | codespaces:org:ORG[:VISIBILITY]
 */
export type Visibility = 'all' | 'private' | 'selected'
export const VISIBILITIES: readonly Visibility[] = ['all', 'private', 'selected']

/** The GitHub product whose secrets a target holds; each has its own keys, endpoints and permissions. */
export type SecretApp = 'actions' | 'dependabot' | 'codespaces'

export type Target =
  | { app: SecretApp; kind: 'repo'; owner: string; repo: string; label: string }
  | { app: 'actions'; kind: 'env'; owner: string; repo: string; environment: string; label: string }
  | { app: SecretApp; kind: 'org'; org: string; visibility?: Visibility; label: string }

export interface Repository {
  owner: string
  repo: string
}

const OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/
const REPO = /^[A-Za-z0-9._-]{1,100}$/
const ENVIRONMENT = /^[^/\s][^/]{0,254}$/
const FORMS =
  'repo, repo:OWNER/REPO, env:ENVIRONMENT, env:OWNER/REPO/ENVIRONMENT, org:ORG[:all|private|selected], ' +
  'or the repo and org forms with a dependabot: or codespaces: prefix'

export class TargetError extends Error {}

export function parseRepository(value: string, where: string): Repository {
  const parts = value.split('/')
  if (parts.length !== 2 || !OWNER.test(parts[0]) || !REPO.test(parts[1]) || /^\.\.?$/.test(parts[1])) {
    throw new TargetError(`${where}: "${value}" is not OWNER/REPO (letters, digits, "-"; the repository may also use "." and "_")`)
  }
  return { owner: parts[0], repo: parts[1] }
}

function parseLine(line: string, current: Repository | undefined, where: string): Target {
  const needCurrent = (): Repository => {
    if (!current) throw new TargetError(`${where}: this repository is unknown (GITHUB_REPOSITORY is not set); name it as OWNER/REPO`)
    return current
  }
  let app: SecretApp = 'actions'
  let text = line
  for (const prefix of ['dependabot', 'codespaces'] as const) {
    if (line.startsWith(`${prefix}:`)) {
      app = prefix
      text = line.slice(prefix.length + 1)
    }
  }
  const prefix = app === 'actions' ? '' : `${app}:`
  const colon = text.indexOf(':')
  const kind = colon < 0 ? text : text.slice(0, colon)
  const rest = colon < 0 ? undefined : text.slice(colon + 1)

  switch (kind) {
    case 'repo': {
      const r = rest === undefined ? needCurrent() : parseRepository(rest, where)
      return { app, kind: 'repo', ...r, label: `${prefix}repo:${r.owner}/${r.repo}` }
    }
    case 'env': {
      if (app !== 'actions') throw new TargetError(`${where}: ${app} secrets have no environments; write ${app}:repo or ${app}:org:ORG`)
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
      return { app, kind: 'env', ...r, environment, label: `env:${r.owner}/${r.repo}/${environment}` }
    }
    case 'org': {
      if (!rest) throw new TargetError(`${where}: write ${prefix}org:ORG or ${prefix}org:ORG:all|private|selected`)
      const [org, visibility, ...extra] = rest.split(':')
      if (!OWNER.test(org)) throw new TargetError(`${where}: "${org}" is not an organization name (letters, digits and "-")`)
      if (extra.length > 0 || (visibility !== undefined && !VISIBILITIES.includes(visibility as Visibility))) {
        throw new TargetError(`${where}: the visibility must be one of ${VISIBILITIES.join(', ')} (or none, to keep the existing one)`)
      }
      return visibility === undefined
        ? { app, kind: 'org', org, label: `${prefix}org:${org}` }
        : { app, kind: 'org', org, visibility: visibility as Visibility, label: `${prefix}org:${org}:${visibility}` }
    }
    default:
      throw new TargetError(`${where}: unknown kind "${prefix}${kind}"; use ${FORMS}`)
  }
}

/** The secret store a target writes to; two targets with the same scope would write the same secret twice. */
export function scopeKey(t: Target): string {
  switch (t.kind) {
    case 'repo':
      return `${t.app}:repo:${t.owner}/${t.repo}`.toLowerCase()
    case 'env':
      return `${t.app}:env:${t.owner}/${t.repo}`.toLowerCase() + `/${t.environment}`
    case 'org':
      return `${t.app}:org:${t.org}`.toLowerCase()
  }
}

/** One target per entry (blank lines already dropped); `#` starts a comment line. */
export function parseTargets(lines: string[], current: Repository | undefined): Target[] {
  const targets: Target[] = []
  const seen = new Map<string, string>()
  for (const raw of lines) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const where = `"${line}"`
    const target = parseLine(line, current, where)
    const key = scopeKey(target)
    const first = seen.get(key)
    if (first !== undefined) throw new TargetError(`${where}: ${target.label} is already named by ${first}; name each target once`)
    seen.set(key, where)
    targets.push(target)
  }
  if (targets.length === 0) throw new TargetError('no target given; write at least one line such as "repo"')
  return targets
}
