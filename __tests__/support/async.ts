/** Small helpers the in-process client tests share. */
import http from 'node:http'
import type { AddressInfo } from 'node:net'

/** The error a promise rejects with; fails the test when it resolves. */
export async function failure<E extends Error = Error>(promise: Promise<unknown>): Promise<E> {
  try {
    await promise
  } catch (error) {
    return error as E
  }
  throw new Error('expected a rejection')
}

/** A port nothing listens on: bound, then closed. */
export async function closedPort(): Promise<number> {
  const server = http.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/**
 * Polls `condition` every 10 ms until it holds, for up to ten seconds (for what happens on the other
 * end of a socket; polled rather than timed, so a loaded machine only makes it slower): whether it came true.
 */
export async function until(condition: () => boolean): Promise<boolean> {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  return condition()
}
