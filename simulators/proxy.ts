/**
 * A recording forward proxy on 127.0.0.1, as a self-hosted runner's HTTPS_PROXY would be: CONNECT
 * tunnels for https, absolute-URI requests for plain http. It reaches only the host names it is given
 * (mapped to addresses, so proxied names need no DNS) and refuses any other (502), so a test never
 * goes out to the network. Each tunnel or request is recorded with the local port of the proxy's
 * socket to the server: a simulator's `connections` that all come from those ports arrived through
 * the proxy.
 */
import http from 'node:http'
import net, { type AddressInfo, type Socket } from 'node:net'

export interface ProxyRecord {
  /** CONNECT for a tunnel, else the method of a plain http request. */
  method: string
  host: string
  port: number
  /** The local port of the proxy's socket to the server (once connected; 0 when it was refused). */
  upstreamPort: number
  /** 200 for an established tunnel, 502 when the host is unknown or the connection failed. */
  status: number
}

export interface RecordingProxy {
  /** http://127.0.0.1:PORT, for HTTPS_PROXY / HTTP_PROXY. */
  url: string
  records: ProxyRecord[]
  /** The records for one host name. */
  recordsFor: (host: string) => ProxyRecord[]
  /** Local ports of the proxy's sockets to servers: compare with Simulator.connections' remotePort. */
  upstreamPorts: () => Set<number>
  stop: () => Promise<void>
}

/** Starts the proxy; `hostMap` maps each host name it may reach to the address it connects to (e.g. 127.0.0.1). */
export async function startProxy(hostMap: Record<string, string>): Promise<RecordingProxy> {
  const records: ProxyRecord[] = []
  const sockets = new Set<Socket>()
  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  }
  const address = (host: string): string | undefined => (Object.hasOwn(hostMap, host.toLowerCase()) ? hostMap[host.toLowerCase()] : undefined)

  const server = http.createServer((req, res) => {
    // A forward proxy receives the absolute URI of a plain http request.
    let target: URL
    try {
      target = new URL(req.url ?? '')
    } catch {
      res.writeHead(400).end('absolute URI required')
      return
    }
    const port = Number(target.port || 80)
    const record: ProxyRecord = { method: req.method ?? 'GET', host: target.hostname, port, upstreamPort: 0, status: 502 }
    records.push(record)
    const to = address(target.hostname)
    if (target.protocol !== 'http:' || to === undefined) {
      res.writeHead(502).end(`proxy: ${target.host} is not reachable`)
      return
    }
    const upstream = http.request(
      { host: to, port, method: req.method, path: `${target.pathname}${target.search}`, headers: req.headers, agent: false },
      (answer) => {
        record.status = answer.statusCode ?? 502
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      }
    )
    upstream.on('socket', (socket: Socket) => {
      track(socket)
      socket.once('connect', () => (record.upstreamPort = socket.localPort ?? 0))
    })
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end('proxy: upstream failed')))
    req.pipe(upstream)
  })

  server.on('connect', (req: http.IncomingMessage, client: Socket, head: Buffer) => {
    track(client)
    const [host, portText] = splitHostPort(req.url ?? '')
    const port = Number(portText)
    const record: ProxyRecord = { method: 'CONNECT', host, port, upstreamPort: 0, status: 502 }
    records.push(record)
    const to = address(host)
    if (to === undefined || !Number.isInteger(port) || port <= 0) {
      client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n')
      return
    }
    const upstream = net.connect({ host: to, port })
    track(upstream)
    upstream.once('connect', () => {
      record.upstreamPort = upstream.localPort ?? 0
      record.status = 200
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    upstream.on('error', () => (record.status === 200 ? client.destroy() : client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n')))
    client.on('error', () => upstream.destroy())
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  server.on('connection', track)

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    records,
    recordsFor: (host) => records.filter((r) => r.host.toLowerCase() === host.toLowerCase()),
    upstreamPorts: () => new Set(records.map((r) => r.upstreamPort).filter((p) => p > 0)),
    stop: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** `host:port` or `[v6]:port` from a CONNECT request line's target. */
function splitHostPort(target: string): [string, string] {
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(target)
  if (v6) return [v6[1], v6[2]]
  const at = target.lastIndexOf(':')
  return at < 0 ? [target, ''] : [target.slice(0, at), target.slice(at + 1)]
}
