/**
 * HTTP/1.1 over node:http and node:https, for both clients. Node's fetch compiles its bundled undici
 * on first use, about 60 ms before the first request can leave; this does the same job for JSON APIs
 * in a few milliseconds (`npm run bench` measures start-up). Connections are kept alive by Node's
 * default agents. Redirects are followed only within the same origin, so credentials stay there.
 */
import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http'

export interface HttpRequest {
  method: string
  headers: Record<string, string>
  body?: string
  /** Aborts the request; the error thrown is the signal's reason (TimeoutError, AbortError, ...). */
  signal?: AbortSignal
}

export interface HttpResponse {
  status: number
  statusText: string
  url: string
  headers: Record<string, string>
  body: string
}

type Transport = { request: (url: URL, options: RequestOptions, callback: (res: IncomingMessage) => void) => ClientRequest }
const transports = new Map<string, Promise<Transport>>()

function transport(protocol: string): Promise<Transport> {
  let loaded = transports.get(protocol)
  if (!loaded) {
    // node:https (and TLS with it) is loaded only when an https:// URL is used.
    loaded = protocol === 'https:' ? import('node:https') : import('node:http')
    transports.set(protocol, loaded)
  }
  return loaded
}

const REDIRECTS = new Set([301, 302, 303, 307, 308])

export async function send(url: URL, request: HttpRequest, redirectsLeft = 3): Promise<HttpResponse> {
  const response = await once(url, request)
  const location = response.headers.location
  if (REDIRECTS.has(response.status) && location && redirectsLeft > 0) {
    const next = new URL(location, url)
    if (next.origin === url.origin) {
      const method = response.status === 303 ? 'GET' : request.method
      return send(next, { ...request, method, body: method === 'GET' ? undefined : request.body }, redirectsLeft - 1)
    }
  }
  return response
}

async function once(url: URL, request: HttpRequest): Promise<HttpResponse> {
  const { signal } = request
  const { request: open } = await transport(url.protocol)
  signal?.throwIfAborted() // after the await: an abort while the module loaded counts too
  const headers: Record<string, string | number> = { ...request.headers }
  if (request.body !== undefined) headers['Content-Length'] = Buffer.byteLength(request.body)
  return new Promise<HttpResponse>((resolve, reject) => {
    const req = open(url, { method: request.method, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('aborted', () => reject(Object.assign(new Error('the connection closed before the answer was complete'), { code: 'ECONNRESET' })))
      res.on('end', () => {
        signal?.removeEventListener('abort', onAbort)
        const flat: Record<string, string> = {}
        for (const [key, value] of Object.entries(res.headers)) if (value !== undefined) flat[key] = Array.isArray(value) ? value.join(', ') : value
        resolve({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          url: url.href,
          headers: flat,
          body: Buffer.concat(chunks).toString('utf8')
        })
      })
    })
    const onAbort = (): void => {
      req.destroy()
      reject(signal!.reason as Error)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    req.on('error', (error) => {
      signal?.removeEventListener('abort', onAbort)
      reject(error)
    })
    req.end(request.body)
  })
}

/** A GitHub request that has not answered by then fails (and is retried like a 5xx). */
const GITHUB_TIMEOUT_MS = 30_000

/** The part of fetch that Octokit's request layer uses, over `send`. */
export async function fetchForOctokit(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal }
): Promise<unknown> {
  const response = await send(new URL(url), {
    method: init.method ?? 'GET',
    headers: init.headers ?? {},
    body: init.body,
    signal: init.signal ?? AbortSignal.timeout(GITHUB_TIMEOUT_MS)
  })
  const headers = new Map(Object.entries(response.headers))
  return {
    status: response.status,
    statusText: response.statusText,
    url: response.url,
    headers: { get: (name: string) => headers.get(name.toLowerCase()) ?? null, [Symbol.iterator]: () => headers.entries() },
    text: () => Promise.resolve(response.body),
    arrayBuffer: () => Promise.resolve(new TextEncoder().encode(response.body).buffer)
  }
}
