/** The message of any thrown value, for texts that are scrubbed of secrets before they are shown. */
export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message
  return String(error)
}
