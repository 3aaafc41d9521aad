/**
 * The benchmark's yardstick: the safe rotation of issue 16 for one repository secret, as a careful
 * minimal script would write it (libsodium, no retries, no options), in its seven waves: (1) the
 * OAuth token with the GitHub reads (public key, the password secret, the rotation state and the
 * legacy marker, this job's start); (2) the write proof, which is also the record ahead of the login
 * (`<secret>_ROTATION`); (3) login; (4) reset; (5) the new password stored, the session logged out;
 * (6) the verify login after the store, with the store read back and the record removed; (7) the
 * verify logout, with the password secret read again (written again by another run since?). Waves 6
 * and 7 are what issue 16 adds to the old six: a verify login sent alongside the store could pass
 * before another run's reset and so miss that this run's password was superseded.
 *
 * libsodium is imported once the first wave is on the wire, as a fast action would: only the proof
 * needs it. Requests go out through plain fetch, or through the transport a wrapper left in
 * `globalThis.referenceTransport` (toolkit-reference.mjs: the stack's own clients). Configured through
 * the same INPUT_* and GITHUB_* variables as the action. Plain JavaScript, like the bundle, so that
 * neither side of the comparison pays for type stripping.
 */
const env = process.env
const input = (name) => env[`INPUT_${name.toUpperCase()}`] ?? ''
const repo = env.GITHUB_REPOSITORY
const secrets = `/repos/${repo}/actions/secrets`
const name = input('secret-name')
const record = `${name}_ROTATION`

/** Sends a request and answers `{ status, data }` (data: the parsed JSON body, if any). */
async function viaFetch(url, init) {
  const r = await fetch(url, init)
  const text = await r.text()
  return { status: r.status, data: text ? JSON.parse(text) : undefined }
}
const ghHeaders = { Authorization: `Bearer ${input('github-token')}`, Accept: 'application/vnd.github+json' }
const transport = globalThis.referenceTransport ?? {
  github: (method, path, body) =>
    viaFetch(`${env.GITHUB_API_URL}${path}`, { method, headers: ghHeaders, body: body === undefined ? undefined : JSON.stringify(body) }),
  thingspace: (method, path, headers, body) => viaFetch(`${input('thingspace-url')}${path}`, { method, headers, body })
}

async function ok(answer) {
  const { status, data } = await answer
  if (status < 200 || status > 299) throw new Error(`answered ${status}`)
  return data
}
const github = (method, path, body) => ok(transport.github(method, path, body))
const thingspace = (method, path, headers, body) => ok(transport.thingspace(method, path, headers, body))

/** A secret's updated_at (ms), or undefined when the repository does not hold it. */
async function updatedAt(secret) {
  const { status, data } = await transport.github('GET', `${secrets}/${secret}`)
  if (status === 404) return undefined
  return Date.parse((await ok({ status, data })).updated_at)
}

const basic = Buffer.from(`${input('client-id')}:${input('client-secret')}`).toString('base64')
const firstWave = Promise.all([
  github('GET', `${secrets}/public-key`),
  updatedAt(name),
  updatedAt(record),
  updatedAt(`${name}_REJECTED`),
  github('GET', `/repos/${repo}/actions/runs/${env.GITHUB_RUN_ID}/attempts/${env.GITHUB_RUN_ATTEMPT}/jobs?per_page=100`),
  thingspace(
    'POST',
    '/api/ts/v1/oauth2/token',
    { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    'grant_type=client_credentials'
  )
])
const sodiumReady = import('libsodium-wrappers').then(async ({ default: sodium }) => (await sodium.ready, sodium))
const [key, storedAt = 0, recordAt, legacyAt, { jobs }, token] = await firstWave

// The pre-flight decisions: a record not older than the last store stops the run, and so does a password
// secret stored after this job read it.
if (Math.max(recordAt ?? -1, legacyAt ?? -1) >= storedAt) throw new Error(`${record} is in force`)
const job = jobs.find((j) => j.runner_name === env.RUNNER_NAME && j.status === 'in_progress')
if (!job || Date.parse(job.started_at) < storedAt) throw new Error(`${name} was stored after this job read it`)

const sodium = await sodiumReady
const b64 = sodium.base64_variants.ORIGINAL
const store = (secret, value) => {
  const sealed = sodium.crypto_box_seal(sodium.from_string(value), sodium.from_base64(key.key, b64))
  return github('PUT', `${secrets}/${secret}`, { encrypted_value: sodium.to_base64(sealed, b64), key_id: key.key_id })
}
const bearer = { Authorization: `Bearer ${token.access_token}`, 'Content-Type': 'application/json' }
const login = (password) => thingspace('POST', '/api/m2m/v1/session/login', bearer, JSON.stringify({ username: input('username'), password }))
const logout = (session) => thingspace('POST', '/api/m2m/v1/session/logout', { ...bearer, 'VZ-M2M-Token': session })

await store(record, `reference client: write proof; a login may count from ${new Date().toISOString()}`)
const { sessionToken } = await login(input('password'))
const reset = { ...bearer, 'VZ-M2M-Token': sessionToken }
const { newPassword } = await thingspace(
  'PUT',
  '/api/m2m/v1/session/password/actions/reset',
  reset,
  JSON.stringify({ oldPassword: input('password') })
)
await Promise.all([store(name, newPassword), logout(sessionToken)])
const [verify, ownStore] = await Promise.all([login(newPassword), updatedAt(name), github('DELETE', `${secrets}/${record}`)])
const [, now] = await Promise.all([logout(verify.sessionToken), updatedAt(name)])
if (now !== ownStore) throw new Error(`${name} was written again after this run's store`)
