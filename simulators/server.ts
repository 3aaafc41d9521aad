/**
 * What both simulators share: an HTTP server on 127.0.0.1, a request log with start and end times
 * (to count sequential waves), global latency, and fault injection per call and per attempt: an
 * answer in place of the simulator's own (before or after it acts), a delay, a dropped connection, and
 * an answer that stalls (never begun, or begun and never finished) until the client gives up or the
 * simulator stops.
 */
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'

export interface Fault {
  /** The call it applies to, by the simulator's name for it (`login`, `reset`, `put-secret`, ...). */
  call: string
  /** Only requests for this scope (`repo:o/r`, `env:o/r/e`, `org:o`), when the call has one. */
  scope?: string
  /** 1-based attempts of this call (counted per fault) it applies to; every attempt when absent. */
  attempts?: number[]
  /** Answer with this status (and body and headers) instead of handling the request (see `afterActing`). */
  status?: number
  body?: unknown
  headers?: Record<string, string>
  /** A body sent as is in place of JSON (an XML gateway fault), with its content type. */
  rawBody?: string
  contentType?: string
  /**
   * With `status`: act on the request first, as the service would (a change committed, a failed login
   * counted), then send the fault's answer instead of the simulator's own. Without it, a fault's answer
   * stands for one from something in front of the service (the gateway), which never acted.
   */
  afterActing?: boolean
  /** Wait this long before handling the request. */
  delayMs?: number
  /**
   * Close the connection without an answer: `before` the simulator acts on the request, or `after`
   * it has committed the change (a lost response).
   */
  drop?: 'before' | 'after'
  /**
   * Never finish the answer; the connection stays open until the client gives up or the simulator
   * stops. `headers`: the request is taken and never acted on or answered. `body`: the simulator acts,
   * sends the status and headers (and the first `stallAfterBytes` bytes of the body) and never the
   * rest. A status that has no body (204, 304) cannot stall its body: give the fault a `status` too.
   */
  stall?: 'headers' | 'body'
  /** With `stall: 'body'`: how many bytes of the body are sent before the stall (none when absent). */
  stallAfterBytes?: number
  /** GitHub only: rotate the scope's public key before handling the request. */
  rotateKey?: boolean
  /** Called as the request arrives, before any delay (tests use it to send a signal at the worst moment). */
  onHit?: () => void
}

export interface LogEntry {
  service: string
  call: string
  scope?: string
  method: string
  path: string
  /** The status sent (a stalled body's included), `dropped`, or 0 while no answer was begun (for good, when stalled). */
  status: number | 'dropped'
  /** The answer never finished: `headers` (none was begun) or `body` (the status was sent, the body never completed). */
  stalled?: 'headers' | 'body'
  /** For a stalled answer: when its connection closed, which before stop() only the client does (when it gives up). */
  stallClosedAt?: number
  start: number
  end: number
  /** ThingSpace: the Bearer token the request carried, and whether it was valid as the request arrived. */
  bearer?: string
  bearerValid?: boolean
  /** GitHub: the X-GitHub-Api-Version header the request carried, and the token (tests give each run its own). */
  apiVersion?: string
  auth?: string
  /** ThingSpace: the user a login asked for, or whose session a reset or logout carried. */
  username?: string
}

export interface Answer {
  status: number
  body?: unknown
  headers?: Record<string, string>
  /** Sent as is instead of the JSON body, with `contentType` (text/plain when absent). */
  rawBody?: string
  contentType?: string
}

export interface Routed {
  call: string
  scope?: string
  handle: () => Answer
}

export class JsonError extends Error {
  readonly answer: Answer
  constructor(status: number, body: unknown, headers?: Record<string, string>) {
    super(`HTTP ${status}`)
    this.answer = { status, body, headers }
  }
}

export interface IncomingJson {
  method: string
  path: string
  query: URLSearchParams
  headers: http.IncomingHttpHeaders
  text: string
}

export abstract class Simulator {
  readonly log: LogEntry[] = []
  readonly faults: Fault[] = []
  /** Added to every request, to stand for a real network in the benchmark. */
  latencyMs = 0
  /** A concurrency limit on some calls, answered the way the real service answers it when exceeded. */
  concurrencyLimit: { calls: string[]; max: number; answer: Answer } | undefined
  /** How many requests the concurrency limit turned away. */
  limited = 0
  private readonly inFlight = new Map<string, number>()
  private readonly peaks = new Map<string, number>()
  private readonly hits = new Map<Fault, number>()
  private readonly gates = new Map<string, Promise<void>>()
  private server: http.Server | https.Server | undefined
  private readonly sockets = new Set<Socket>()
  /**
   * Every TCP connection accepted, by the client's address and port, in order: a proxy test compares
   * the ports with the proxy's outgoing sockets to prove that no request bypassed the proxy.
   */
  readonly connections: { remoteAddress: string; remotePort: number; at: number }[] = []
  url = ''
  abstract readonly service: string

  /** Maps a request to the call it is and the handler that answers it (or throws JsonError). */
  protected abstract route(req: IncomingJson): Routed

  /**
   * Listens on 127.0.0.1 (`port` 0 picks a free one). With `tls`, serves https with that certificate;
   * `url` then names `tls.host` (one of the certificate's names, resolved to 127.0.0.1 by whoever
   * connects: a proxy's host map or the harness's `resolve` option), else 127.0.0.1.
   */
  async start(port = 0, tls?: { cert: string; key: string; host?: string }): Promise<string> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => void this.serve(req, res)
    this.server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : http.createServer(handler)
    this.server.keepAliveTimeout = 1000
    // 'connection' is the TCP socket for both: it carries the client's port, and destroying it ends a TLS session too.
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket)
      this.connections.push({
        remoteAddress: socket.remoteAddress ?? '',
        remotePort: socket.remotePort ?? 0,
        at: performance.timeOrigin + performance.now()
      })
      socket.on('close', () => this.sockets.delete(socket))
    })
    const server = this.server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
    const bound = (server.address() as AddressInfo).port
    this.url = tls ? `https://${tls.host ?? '127.0.0.1'}:${bound}` : `http://127.0.0.1:${bound}`
    return this.url
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    const server = this.server
    this.server = undefined
    await new Promise<void>((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()))
  }

  inject(...faults: Fault[]): void {
    this.faults.push(...faults)
  }

  /**
   * Holds every request of one call at the server until the returned function is called: a test can
   * count how many arrive together without racing a latency timer on a loaded machine.
   */
  hold(call: string): () => void {
    let release = (): void => {}
    this.gates.set(call, new Promise<void>((resolve) => (release = resolve)))
    return () => {
      this.gates.delete(call)
      release()
    }
  }

  /** The most requests of one call that were in flight at once (held back by latency or a fault delay included). */
  peakInFlight(call: string): number {
    return this.peaks.get(call) ?? 0
  }

  /** Log entries for one call (and scope). */
  calls(call: string, scope?: string): LogEntry[] {
    return this.log.filter((e) => e.call === call && (scope === undefined || e.scope === scope))
  }

  /** Every fault that matches the request counts it as an attempt; the first that applies to this attempt fires. */
  private matchFault(routed: Routed): Fault | undefined {
    let fired: Fault | undefined
    for (const fault of this.faults) {
      if (fault.call !== routed.call || (fault.scope !== undefined && fault.scope !== routed.scope)) continue
      const n = (this.hits.get(fault) ?? 0) + 1
      this.hits.set(fault, n)
      if (!fired && (fault.attempts === undefined || fault.attempts.includes(n))) fired = fault
    }
    return fired
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const start = performance.timeOrigin + performance.now()
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const url = new URL(req.url ?? '/', 'http://simulator')
    const incoming: IncomingJson = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      text: Buffer.concat(chunks).toString('utf8')
    }
    let routed: Routed
    try {
      routed = this.route(incoming)
    } catch (error) {
      const answer = error instanceof JsonError ? error.answer : { status: 500, body: { message: String(error) } }
      routed = { call: 'unknown', handle: () => answer }
    }
    const entry: LogEntry = {
      service: this.service,
      call: routed.call,
      scope: routed.scope,
      method: incoming.method,
      path: incoming.path,
      status: 0,
      start,
      end: start,
      ...this.noteRequest(incoming)
    }
    this.log.push(entry)
    const fault = this.matchFault(routed)
    fault?.onHit?.()
    const limit = this.concurrencyLimit?.calls.includes(routed.call) ? this.concurrencyLimit : undefined
    const running = (this.inFlight.get(routed.call) ?? 0) + 1
    this.inFlight.set(routed.call, running)
    this.peaks.set(routed.call, Math.max(running, this.peaks.get(routed.call) ?? 0))
    const delay = this.latencyMs + (fault?.delayMs ?? 0)
    try {
      // Unreferenced, so a request still held back by a fault does not keep a stopped simulator's process alive.
      await this.gates.get(routed.call)
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay).unref())
      if (limit && running > limit.max) {
        this.limited++
        routed = { ...routed, handle: () => limit.answer }
      }
      this.answer(req, res, routed, fault, entry)
    } finally {
      this.inFlight.set(routed.call, (this.inFlight.get(routed.call) ?? 1) - 1)
    }
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse, routed: Routed, fault: Fault | undefined, entry: LogEntry): void {
    if (fault?.rotateKey) this.rotateKey(routed.scope)

    const finish = (status: number | 'dropped'): void => {
      entry.status = status
      entry.end = performance.timeOrigin + performance.now()
    }
    if (fault?.drop === 'before') {
      finish('dropped')
      req.socket.destroy()
      return
    }
    const stalled = (how: 'headers' | 'body'): void => {
      entry.stalled = how
      req.socket.once('close', () => (entry.stallClosedAt = performance.timeOrigin + performance.now()))
    }
    if (fault?.stall === 'headers') {
      // Taken and never answered: the socket stays open (stop() destroys it).
      stalled('headers')
      finish(0)
      return
    }
    const handled = (): Answer => {
      try {
        return routed.handle()
      } catch (error) {
        return error instanceof JsonError ? error.answer : { status: 500, body: { message: String(error) } }
      }
    }
    let answer: Answer
    if (fault?.status !== undefined) {
      if (fault.afterActing) this.undelivered(handled())
      answer = { status: fault.status, body: fault.body, headers: fault.headers, rawBody: fault.rawBody, contentType: fault.contentType }
    } else {
      answer = handled()
      if (fault?.headers) answer = { ...answer, headers: { ...answer.headers, ...fault.headers } }
    }
    if (fault?.drop === 'after') {
      finish('dropped')
      req.socket.destroy()
      this.undelivered(answer)
      return
    }
    finish(answer.status)
    const text = answer.rawBody ?? (answer.body === undefined ? '' : JSON.stringify(answer.body))
    const type = answer.contentType ?? (answer.rawBody === undefined ? 'application/json' : 'text/plain')
    if (fault?.stall === 'body') {
      // No Content-Length, so the body is chunked and the client waits for the rest; the client never sees the values in it.
      stalled('body')
      res.writeHead(answer.status, { 'Content-Type': type, ...answer.headers })
      const part = Buffer.from(text).subarray(0, fault.stallAfterBytes ?? 0)
      if (part.length > 0) res.write(part)
      else res.flushHeaders()
      this.undelivered(answer)
      return
    }
    res.writeHead(answer.status, {
      ...(text ? { 'Content-Type': type } : {}),
      'Content-Length': Buffer.byteLength(text),
      ...answer.headers
    })
    res.end(text)
  }

  /** Facts about the request for its log entry, taken as it arrives. */
  protected noteRequest(_req: IncomingJson): Partial<LogEntry> {
    return {}
  }

  /** Called with an answer the client never received (dropped or stalled after the change, or replaced by a fault's). */
  protected undelivered(_answer: Answer): void {}

  /** GitHub overrides this; a ThingSpace fault never asks for it. */
  protected rotateKey(_scope: string | undefined): void {}
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/**
 * Groups a request log into sequential waves: a request belongs to the current wave when it started
 * before any request of that wave had answered; one that starts later could depend on an answer, so
 * it opens the next wave. Meaningful with latency, where a wave's requests start within a few ms.
 */
export function countWaves(entries: LogEntry[], slackMs = 0): number {
  const sorted = [...entries].sort((a, b) => a.start - b.start)
  let waves = 0
  let waveFirstEnd = -Infinity
  for (const e of sorted) {
    if (e.start > waveFirstEnd + slackMs) {
      waves++
      waveFirstEnd = e.end
    } else {
      waveFirstEnd = Math.min(waveFirstEnd, e.end)
    }
  }
  return waves
}
