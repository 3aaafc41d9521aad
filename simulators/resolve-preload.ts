/**
 * Test only. Preloaded into the action's process (`NODE_OPTIONS=--import=<this file>`) by the
 * harness's `resolve` option: answers `dns.lookup` for the host names in SIM_RESOLVE (JSON, name ->
 * IPv4 address) and passes every other name to the real lookup. A proxy test needs host names that
 * are not loopback (the toolkit's HTTP clients send localhost and 127.* past any proxy), and its
 * NO_PROXY case needs the action to reach such a name directly: this resolves the name without
 * /etc/hosts or a DNS server. Node's net and tls connect through `dns.lookup` (read from the module
 * at connect time), and so do @actions/http-client (node:https) and undici's Agent, so both the
 * ThingSpace and the GitHub clients see the mapping. The action's code is not changed.
 */
import dns, { type LookupAddress, type LookupOptions } from 'node:dns'
import { syncBuiltinESMExports } from 'node:module'

const names = new Map(Object.entries(JSON.parse(process.env.SIM_RESOLVE ?? '{}') as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v]))

type Callback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

const realLookup = dns.lookup.bind(dns) as (host: string, options: LookupOptions, callback: Callback) => void

function lookup(host: string, options: LookupOptions | number | Callback, callback?: Callback): void {
  const done = (typeof options === 'function' ? options : callback)!
  const opts: LookupOptions = typeof options === 'object' ? options : typeof options === 'number' ? { family: options } : {}
  const address = names.get(String(host).toLowerCase())
  if (address === undefined) return realLookup(host, opts, done)
  const family = address.includes(':') ? 6 : 4
  process.nextTick(() => (opts.all ? done(null, [{ address, family }]) : done(null, address, family)))
}

if (names.size > 0) {
  ;(dns as { lookup: unknown }).lookup = lookup
  const realPromise = dns.promises.lookup.bind(dns.promises)
  ;(dns.promises as { lookup: unknown }).lookup = (host: string, options?: LookupOptions | number) => {
    const address = names.get(String(host).toLowerCase())
    if (address === undefined) return realPromise(host, options as LookupOptions)
    const family = address.includes(':') ? 6 : 4
    const all = typeof options === 'object' && options.all
    return Promise.resolve(all ? [{ address, family }] : { address, family })
  }
  syncBuiltinESMExports()
}
