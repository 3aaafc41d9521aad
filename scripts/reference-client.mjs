/**
 * The benchmark's yardstick: the same safe rotation for one repository secret, written as a careful
 * minimal script would be (plain fetch, libsodium, no retries, no options), in the same six waves:
 * (1) OAuth token with the GitHub reads, (2) login, (3) write proof, (4) reset, (5) store with logout
 * and verify login, (6) verify logout. Configured through the same INPUT_* and GITHUB_* variables.
 * Plain JavaScript, like the bundle, so that neither side of the comparison pays for type stripping.
 */
import sodium from 'libsodium-wrappers'

const env = process.env
const input = (name) => env[`INPUT_${name.toUpperCase()}`] ?? ''
const ts = input('thingspace-url')
const gh = env.GITHUB_API_URL
const repo = env.GITHUB_REPOSITORY
const secretUrl = `${gh}/repos/${repo}/actions/secrets/${input('secret-name')}`
const ghHeaders = { Authorization: `Bearer ${input('github-token')}`, Accept: 'application/vnd.github+json' }

async function json(response) {
  const r = await response
  if (!r.ok) throw new Error(`${r.url}: ${r.status}`)
  const text = await r.text()
  return text ? JSON.parse(text) : undefined
}

const basic = Buffer.from(`${input('client-id')}:${input('client-secret')}`).toString('base64')
const [key, , , token] = await Promise.all([
  json(fetch(`${gh}/repos/${repo}/actions/secrets/public-key`, { headers: ghHeaders })),
  fetch(secretUrl, { headers: ghHeaders }),
  json(fetch(`${gh}/repos/${repo}/actions/runs/${env.GITHUB_RUN_ID}`, { headers: ghHeaders })),
  json(
    fetch(`${ts}/api/ts/v1/oauth2/token`, {
      method: 'POST',
      headers: { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials'
    })
  ),
  sodium.ready
])
const bearer = { Authorization: `Bearer ${token.access_token}`, 'Content-Type': 'application/json' }
const login = (password) =>
  json(fetch(`${ts}/api/m2m/v1/session/login`, { method: 'POST', headers: bearer, body: JSON.stringify({ username: input('username'), password }) }))
const logout = (session) => json(fetch(`${ts}/api/m2m/v1/session/logout`, { method: 'POST', headers: { ...bearer, 'VZ-M2M-Token': session } }))
const store = (value) => {
  const sealed = sodium.crypto_box_seal(sodium.from_string(value), sodium.from_base64(key.key, sodium.base64_variants.ORIGINAL))
  return json(
    fetch(secretUrl, {
      method: 'PUT',
      headers: ghHeaders,
      body: JSON.stringify({ encrypted_value: sodium.to_base64(sealed, sodium.base64_variants.ORIGINAL), key_id: key.key_id })
    })
  )
}

const { sessionToken } = await login(input('password'))
await store(input('password'))
const { newPassword } = await json(
  fetch(`${ts}/api/m2m/v1/session/password/actions/reset`, {
    method: 'PUT',
    headers: { ...bearer, 'VZ-M2M-Token': sessionToken },
    body: JSON.stringify({ oldPassword: input('password') })
  })
)
const [, , verify] = await Promise.all([store(newPassword), logout(sessionToken), login(newPassword)])
await logout(verify.sessionToken)
