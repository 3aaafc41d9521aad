/**
 * Proxies as every toolkit action handles them (issue 9): with HTTPS_PROXY or https_proxy in the job's
 * environment, every ThingSpace and GitHub request goes through the proxy with no other setting, and a
 * NO_PROXY host is reached directly.
 *
 * The toolkit's HTTP clients send loopback hosts (localhost, 127.*) past any proxy, so the simulators
 * serve https under non-loopback names with a throwaway CA (NODE_EXTRA_CA_CERTS) while listening on
 * 127.0.0.1. The recording proxy maps those names to 127.0.0.1; the action's process resolves them
 * too (the harness's `resolve` option), so a request that bypassed the proxy would still arrive, and
 * be seen. Proof that nothing bypassed it: every TCP connection a simulator accepted came from the
 * local port of one of the proxy's tunnels to that host (several requests may share a kept-alive
 * tunnel, so connections are compared, not requests).
 *
 * A proxy that cannot open a tunnel to ThingSpace means the login was never sent: an unattended run
 * removes the record it wrote ahead of that login, so the next run is not stopped for nothing.
 */
import { afterAll, describe, expect, test } from '@jest/globals'
import http from 'node:http'
import net, { type Socket } from 'node:net'
import { startSimulators, type Simulators } from '../simulators/harness.ts'
import { startProxy, type RecordingProxy } from '../simulators/proxy.ts'
import { makeCertificates } from '../simulators/tls.ts'
import { REPO, STATE, errorMessage, run, stored } from './support/scenario.ts'

const HOSTS = { thingspace: 'thingspace.sim.test', github: 'github.sim.test' }
const TO_LOOPBACK = { [HOSTS.thingspace]: '127.0.0.1', [HOSTS.github]: '127.0.0.1' }

const certificates = makeCertificates(Object.values(HOSTS))
afterAll(() => certificates.remove())

/** Simulators over https under HOSTS and a recording proxy, for `fn`; both stopped whatever happens. */
async function withProxy(fn: (sims: Simulators, proxy: RecordingProxy) => Promise<void>): Promise<void> {
  const sims = await startSimulators(undefined, { tls: { cert: certificates.certPem, key: certificates.keyPem }, hosts: HOSTS })
  const proxy = await startProxy(TO_LOOPBACK)
  try {
    await fn(sims, proxy)
  } finally {
    await Promise.all([sims.stop(), proxy.stop()])
  }
}

/**
 * A proxy that opens the first tunnel asked of it, to 127.0.0.1, and answers every later CONNECT 502,
 * as one that failed during the run would. Records each CONNECT as `host status`.
 */
async function proxyWithOneTunnel(): Promise<{ url: string; connects: string[]; stop: () => Promise<void> }> {
  const connects: string[] = []
  const sockets = new Set<Socket>()
  const server = http.createServer((_req, res) => res.writeHead(405).end())
  server.on('connection', (socket: Socket) => sockets.add(socket))
  server.on('connect', (req: http.IncomingMessage, client: Socket) => {
    const [host, port] = (req.url ?? '').split(':')
    if (connects.length > 0) {
      connects.push(`${host} 502`)
      client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n')
      return
    }
    connects.push(`${host} 200`)
    const upstream = net.connect({ host: '127.0.0.1', port: Number(port) }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.pipe(client)
      client.pipe(upstream)
    })
    sockets.add(upstream)
    upstream.on('error', () => client.destroy())
    client.on('error', () => upstream.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    connects,
    stop: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** Runs the bundle with `env` added, trusting the throwaway CA and resolving HOSTS to 127.0.0.1. */
async function runWith(sims: Simulators, env: Record<string, string>): ReturnType<typeof run> {
  return run(sims, { env: { NODE_EXTRA_CA_CERTS: certificates.caFile, ...env }, resolve: TO_LOOPBACK })
}

/**
 * For one simulator: the requests it answered, the connections it accepted, the proxy's tunnels to
 * it, and how many of its connections came through one of those tunnels (by the client's port) or not.
 */
function traffic(
  sim: Simulators['thingspace'] | Simulators['github'],
  host: string,
  proxy: RecordingProxy
): { requests: number; tunnels: number; throughTunnel: number; direct: number } {
  const port = Number(new URL(sim.url).port)
  const tunnels = proxy.recordsFor(host).filter((r) => r.method === 'CONNECT' && r.port === port && r.status === 200)
  const tunnelPorts = new Set(tunnels.map((r) => r.upstreamPort))
  const throughTunnel = sim.connections.filter((c) => tunnelPorts.has(c.remotePort)).length
  return { requests: sim.log.length, tunnels: tunnels.length, throughTunnel, direct: sim.connections.length - throughTunnel }
}

describe('behind a proxy', () => {
  test.each([['HTTPS_PROXY'], ['https_proxy']])(
    'with %s set, every ThingSpace and GitHub request goes through the proxy and the rotation completes',
    async (variable) => {
      await withProxy(async (sims, proxy) => {
        const initial = sims.thingspace.password

        const result = await runWith(sims, { [variable]: proxy.url })

        expect(result.code).toBe(0)
        expect(result.outputs.result).toBe('rotated')
        expect(sims.thingspace.password).not.toBe(initial)
        expect(stored(sims, REPO)).toBe(sims.thingspace.password)
        for (const [sim, host] of [
          [sims.thingspace, HOSTS.thingspace],
          [sims.github, HOSTS.github]
        ] as const) {
          const seen = traffic(sim, host, proxy)
          expect({ host, direct: seen.direct }).toEqual({ host, direct: 0 })
          expect(Math.min(seen.requests, seen.tunnels, seen.throughTunnel)).toBeGreaterThan(0)
        }
        // Tunnels only, each established: nothing asked of the proxy in plain http, nothing refused.
        expect(proxy.records.filter((r) => r.method !== 'CONNECT' || r.status !== 200)).toEqual([])
      })
    }
  )

  test('a NO_PROXY host is reached directly while the other still goes through the proxy', async () => {
    await withProxy(async (sims, proxy) => {
      const result = await runWith(sims, { HTTPS_PROXY: proxy.url, NO_PROXY: HOSTS.github })

      expect(result.code).toBe(0)
      expect(result.outputs.result).toBe('rotated')
      expect(stored(sims, REPO)).toBe(sims.thingspace.password)
      const thingspace = traffic(sims.thingspace, HOSTS.thingspace, proxy)
      expect(thingspace.direct).toBe(0)
      expect(Math.min(thingspace.requests, thingspace.tunnels, thingspace.throughTunnel)).toBeGreaterThan(0)
      expect(proxy.recordsFor(HOSTS.github)).toEqual([])
      const github = traffic(sims.github, HOSTS.github, proxy)
      expect(github.throughTunnel).toBe(0)
      expect(Math.min(github.requests, github.direct)).toBeGreaterThan(0)
    })
  })

  test('a proxy that cannot open a tunnel for the login: not sent, retried, failed-unchanged, and a scheduled run removes its record', async () => {
    const sims = await startSimulators(undefined, { tls: { cert: certificates.certPem, key: certificates.keyPem }, hosts: HOSTS })
    const proxy = await proxyWithOneTunnel()
    try {
      const initial = sims.thingspace.password

      const result = await runWith(sims, { HTTPS_PROXY: proxy.url, NO_PROXY: HOSTS.github, GITHUB_EVENT_NAME: 'schedule' })

      expect(result.code).toBe(1)
      expect(result.outputs).toEqual({ result: 'failed-unchanged', rotated: 'false', 'targets-updated': '0' })
      expect(errorMessage(result)).toBe(
        'The password was not changed: ThingSpace login: the proxy did not open a connection. No failed login was counted, so a new run may try again.'
      )
      // The OAuth token came through the one tunnel; the login's 4 attempts never reached ThingSpace.
      expect(proxy.connects).toEqual([`${HOSTS.thingspace} 200`, ...Array.from({ length: 4 }, () => `${HOSTS.thingspace} 502`)])
      expect(sims.thingspace.log.map((e) => e.call)).toEqual(['token'])
      expect(sims.thingspace.consecutiveFailures).toBe(0)
      expect(sims.thingspace.password).toBe(initial)
      // Recorded ahead of the login, removed once it was known never to have been sent.
      expect(sims.github.log.filter((e) => e.path.endsWith(`/secrets/${STATE}`) && e.method !== 'GET').map((e) => [e.call, e.status])).toEqual([
        ['put-secret', 201],
        ['delete-secret', 204]
      ])
      expect(stored(sims, REPO, STATE)).toBeUndefined()
    } finally {
      await Promise.all([sims.stop(), proxy.stop()])
    }
  })
})
